"""Loading policy documents (TOML) into the domain's ``Policy``; the seed ships here.

The seed has revisions, each a file of its own that never changes once shipped (a
ledger that published it holds its digest): the newest is the policy in force, the
older ones stay so that every act can be read with the revision it was judged by.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ledger.domain.policy import Policy
from ledger.errors import PolicyError

# Every revision of the seed, oldest first; the last is in force.
SEED_REVISION_FILES = ("privacyverklaring-2021-12-24.toml",
                       "privacyverklaring-2021-12-24-r2.toml")
SEED_POLICY_FILE = SEED_REVISION_FILES[-1]
# Who publishes the policy in force (an act the ledger does itself, on every backend).
SYSTEM_ACTOR = "ledger"


def seed_policy_text(file: str = SEED_POLICY_FILE) -> str:
    return resources.files(__package__).joinpath(file).read_text("utf-8")


def seed_revisions() -> dict[str, Policy]:
    """Every shipped revision of the seed by version, oldest first."""
    revisions: dict[str, Policy] = {}
    for file in SEED_REVISION_FILES:
        policy = parse_policy(seed_policy_text(file), origin=file)
        revisions[policy.version] = policy
    return revisions


def seed_revision(version: str) -> Policy:
    """The shipped revision ``version`` (the one an act names in ``policy_version``)."""
    try:
        return seed_revisions()[version]
    except KeyError:
        raise PolicyError(f"no shipped policy revision {version!r}; shipped: "
                          f"{', '.join(seed_revisions())}") from None


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
