"""After an erasure, no projection shows or holds a personal value of the erased subject.

Two subjects get unique canaries; the projections follow the ledger through the command
line; one subject is erased. Its subject view, DSAR export and HTML report show none
of its values, while the other's show all of theirs (positive control). The projection
store files (with -wal and -shm, free pages included) never hold any canary, erased or
not: they keep sealed envelopes only. The raw scanner's own positive control: the
same scan finds a canary left in the free pages of a SQLite file without
``secure_delete``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests.canary_scan import raw_hits, store_files, text_hits
from tests.cli_helpers import canaries, ledger

pytestmark = pytest.mark.e2e


# What a contact form collects; the message's markup checks that the report escapes it.
COLLECTED = ("name", "business-email", "business-phone", "message-content")


def acts(subject: str, values: dict[str, str], tag: str) -> list[bytes]:
    base = {"subject_id": subject, "actor": "web", "occurred_at": "2025-03-03T09:00:00Z"}
    return [
        orjson.dumps({**base, "act_id": f"{tag}-1", "type": "data-collected",
                      "purpose": "contact", "values": values, "source_system": "website",
                      "legal_basis": "legitimate-interest"}),
        orjson.dumps({**base, "act_id": f"{tag}-2", "type": "data-rectified",
                      "purpose": "contact", "request_ref": "R-1",
                      "values": {"name": values["name"] + "-RECTIFIED"}}),
        orjson.dumps({**base, "act_id": f"{tag}-3", "type": "data-shared",
                      "purpose": "contact", "recipient": "Helpdesk BV",
                      "recipient_kind": "it-supplier", "ground": "processor",
                      "categories": ["name", "message-content"]}),
    ]


def test_an_erased_subject_leaves_no_value_in_views_exports_or_projection_files(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    erased, kept = str(uuid4()), str(uuid4())
    erased_values, kept_values = canaries("ERASED", *COLLECTED), canaries("KEPT", *COLLECTED)
    erased_all = [*erased_values.values(), erased_values["name"] + "-RECTIFIED"]
    kept_all = [*kept_values.values(), kept_values["name"] + "-RECTIFIED"]
    lines = acts(erased, erased_values, "e") + acts(kept, kept_values, "k")
    recorded = ledger("record", "-", data_dir=data, stdin=b"\n".join(lines) + b"\n")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    before = ledger("subject", "show", erased, "--json", data_dir=data)
    assert before.returncode == 0, before.stderr
    assert erased_values["business-email"] in before.stdout, "the view shows values"

    erasure = ledger("erase", erased, "--request", "DSAR-9", data_dir=data)
    assert erasure.returncode == 0, erasure.stderr

    view = ledger("subject", "show", erased, "--json", data_dir=data)
    table = ledger("subject", "show", erased, data_dir=data)
    export = ledger("dsar", "export", erased, "--json", "--out", str(tmp_path / "e.json"),
                    "--html", str(tmp_path / "e.html"), data_dir=data)
    kept_view = ledger("subject", "show", kept, "--json", data_dir=data)
    kept_export = ledger("dsar", "export", kept, "--json", "--html",
                         str(tmp_path / "k.html"), data_dir=data)
    for result in (view, table, export, kept_view, kept_export):
        assert result.returncode == 0, result.stderr

    shown = orjson.loads(view.stdout)
    assert {v["status"] for v in shown["personal_data"]} == {"erased"}
    assert all(v["value"] is None for v in orjson.loads(export.stdout)["recorded_values"])
    outputs = [view.stdout, view.stderr, table.stdout, export.stdout,
               (tmp_path / "e.json").read_text("utf-8"),
               (tmp_path / "e.html").read_text("utf-8")]
    assert text_hits(outputs, erased_all) == dict.fromkeys(erased_all, 0)
    # Positive control: the same reads show the other subject's values, all of them.
    kept_outputs = [kept_view.stdout, kept_export.stdout,
                    (tmp_path / "k.html").read_text("utf-8")]
    hits = text_hits(kept_outputs[:2], kept_all)
    assert all(hits[c] >= 1 for c in kept_all), hits
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in kept_outputs[2], "values are escaped in HTML"

    # Raw: the projection store files hold no canary of anyone, erased or kept.
    settings_files = store_files(data / "projections.sqlite")
    assert settings_files[0].name == "projections.sqlite"
    raw = raw_hits(settings_files, [c.encode() for c in erased_all + kept_all])
    assert {c.decode(): names for c, names in raw.items() if names} == {}


def test_the_raw_scan_sees_free_pages(tmp_path: Path) -> None:
    """Positive control for the raw scan: a deleted row left in free pages is found."""
    canary = f"CANARY-FREEPAGE-{uuid4().hex}"
    path = tmp_path / "leaky.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA secure_delete = OFF")
    db.execute("CREATE TABLE t (v TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(canary * 50,)] * 20)
    db.commit()
    db.execute("DELETE FROM t")
    db.commit()
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()
    assert raw_hits(store_files(path), [canary.encode()])[canary.encode()] != []
