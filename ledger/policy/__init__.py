"""Loading policy documents (TOML) into the domain's ``Policy``; the seed ships here."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ledger.domain.policy import Policy
from ledger.errors import PolicyError

SEED_POLICY_FILE = "privacyverklaring-2021-12-24.toml"


def seed_policy_text() -> str:
    return resources.files(__package__).joinpath(SEED_POLICY_FILE).read_text("utf-8")


def parse_policy(text: str, *, origin: str = "policy") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{origin}: not valid TOML: {error}") from error
    return Policy.from_mapping(data)


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path``, or the seed policy shipped with the package."""
    if path is None:
        return parse_policy(seed_policy_text(), origin=SEED_POLICY_FILE)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise PolicyError(f"{path}: cannot be read: {error.strerror}") from error
    return parse_policy(text, origin=str(path))
