"""The console in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium), against `ledger web` started as a user starts it.

A DSAR handler signs in, finds a subject by email, opens the view, downloads both
exports, starts and confirms an erasure and sees the queue update. Then an auditor
visits every page the console has for them, and no canary value appears in any
page's HTML; the handler's pages are the positive control. Screenshots go to the
test's temporary directory. Without Chromium this test fails (``make test`` installs
it): a browser test that skips is a browser test nobody runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from consumers.web.roles import Role
from tests.canary_scan import text_hits
from tests.web.seed import Seeded, seed_ledger

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")


def _find(candidates: tuple[str, ...], package: str) -> str:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(f"{candidates[-1]} is not installed: `make chromium` (or apt-get install "
                f"{package}) installs Debian's", pytrace=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    seeded = seed_ledger(tmp_path_factory.mktemp("browser") / "data", tag="BROWSER")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(seeded.settings.data_dir),
         "web", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, err = process.communicate(timeout=5)
                    pytest.fail(f"ledger web did not start: {err.decode()[-2000:]}")
                time.sleep(0.2)
        yield base, seeded
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = _find(CHROMIUM, "chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "safebrowsing.enabled": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(
        _find(CHROMEDRIVER, "chromium-driver")))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


class Pages:
    """The browser on the console: every page it saw kept, and a screenshot of each."""

    def __init__(self, driver: webdriver.Chrome, base: str, shots: Path) -> None:
        self.driver, self.base, self.shots = driver, base, shots
        self.seen: dict[str, str] = {}
        shots.mkdir(parents=True, exist_ok=True)

    def keep(self, name: str) -> str:
        html = self.driver.page_source
        self.seen[name] = html
        self.driver.save_screenshot(str(self.shots / f"{len(self.seen):02d}-{name}.png"))
        return html

    def open(self, path: str, name: str) -> str:
        self.driver.get(self.base + path)
        return self.keep(name)

    def fill(self, element_id: str, text: str) -> None:
        field = self.driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(text)

    def click(self, element_id: str) -> None:
        self.driver.find_element(By.ID, element_id).click()

    def sign_in(self, token: str, name: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/login", f"login-{name}")
        self.fill("token", token)
        self.click("sign-in")
        WebDriverWait(self.driver, 10).until(lambda d: "Welcome" in d.page_source)
        self.keep(f"home-{name}")


def _download(folder: Path, suffix: str, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == suffix]
        if done:
            return done[0]
        time.sleep(0.2)
    pytest.fail(f"no {suffix} download in {folder}: {sorted(os.listdir(folder))}")


def test_a_handler_answers_and_erases_and_an_auditor_sees_no_value(
        server: tuple[str, Seeded], browser: webdriver.Chrome, tmp_path: Path) -> None:
    base, seeded = server
    pages = Pages(browser, base, tmp_path / "screenshots")
    a = seeded.subject_a

    # -- a DSAR handler -------------------------------------------------------------
    pages.sign_in(seeded.tokens[Role.DSAR_HANDLER], "handler")
    queue = pages.open("/queue", "queue-before")
    assert queue.index("DSAR-E1") < queue.index("Closed requests")
    pages.open("/find", "find")
    pages.fill("email", seeded.email_a)
    pages.fill("case_ref", "DSAR-E1")
    Select(browser.find_element(By.NAME, "purpose")).select_by_value("subject-request")
    pages.click("find")
    WebDriverWait(browser, 10).until(lambda d: "Personal data" in d.page_source)
    view = pages.keep("view")
    assert seeded.email_a in view
    assert seeded.email_a not in browser.current_url  # never a value in a URL
    for kind in ("json", "html"):
        pages.click(f"export-{kind}")
        got = _download(browser.downloads, f".{kind}")  # type: ignore[attr-defined]
        assert seeded.email_a in got.read_text("utf-8")
    export = orjson.loads(_download(browser.downloads, ".json").read_bytes())  # type: ignore[attr-defined]
    assert [c["shown"] for c in export["consultations"]][:2] == ["subject-view",
                                                                 "export-json"]
    pages.click("erase-link")
    plan = pages.keep("erase-plan")
    assert "fiscal" in plan
    assert "general" in plan
    pages.fill("request_ref", "DSAR-E1")
    pages.click("confirm")
    pages.click("erase")
    WebDriverWait(browser, 30).until(lambda d: "Shredded" in d.page_source)
    assert "Shredded: general" in pages.keep("erased")
    queue = pages.open("/queue", "queue-after")
    assert queue.index("DSAR-E1") > queue.index("Closed requests")
    for path, name in (("/audit?subject_id=" + a, "handler-trail"),
                       ("/registers", "handler-registers"), ("/access-log", "handler-log")):
        pages.open(path, name)
    docs = pages.open("/docs", "docs")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info"))
    assert "swagger" in docs.lower()
    handler_pages = dict(pages.seen)
    pages.seen.clear()

    # -- an auditor ------------------------------------------------------------------
    pages.sign_in(seeded.tokens[Role.AUDITOR], "auditor")
    for path, name in (
            ("/queue", "auditor-queue"), ("/audit", "auditor-trail-all"),
            (f"/audit?subject_id={a}", "auditor-trail"),
            (f"/audit?subject_id={seeded.subject_b}&as_of=2025-06-01T00:00",
             "auditor-trail-as-of"),
            ("/registers", "auditor-registers"), ("/retention", "auditor-retention"),
            ("/access-log", "auditor-log"), (f"/subjects/{seeded.subject_b}", "auditor-subject"),
            ("/find", "auditor-find"), ("/tokens", "auditor-tokens"), ("/docs", "auditor-docs")):
        pages.open(path, name)
    assert "Not allowed for this role" in pages.seen["auditor-find"]
    assert "Held as of" in pages.seen["auditor-trail-as-of"]
    auditor_hits = {c: n for c, n in text_hits(pages.seen.values(), seeded.canaries).items()
                    if n}
    assert auditor_hits == {}
    # Positive control: the same scan finds the values on the handler's pages.
    assert text_hits(handler_pages.values(), [seeded.email_a])[seeded.email_a] >= 1
    errors = [entry for entry in browser.get_log("browser")
              if "Content Security Policy" in entry.get("message", "")]
    assert errors == []
