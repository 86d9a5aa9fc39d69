"""The checkpoint signing key of the verifiable log, and the verifier keys an audit trusts.

Kept apart from the master key (``LEDGER_AUDIT_KEY_FILE``, default ``DATA_DIR/audit.key``,
0600, or the key line itself in ``LEDGER_AUDIT_KEY``): it proves what the log held and
opens nothing. Its verifier keys go to ``LEDGER_AUDIT_PUBLIC_KEYS`` (default
``DATA_DIR/audit-public-keys``), the file an auditor copies. Rotation and retirement:
``ledger.audit.signing_keys`` and the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.audit.signer import Cadence, CheckpointSigner
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys
from ledger.config import Settings
from ledger.errors import ConfigurationError


@dataclass(frozen=True)
class AuditKeyChange:
    key: str  # the new key's label: name+key id
    verifier_key: str  # the line an auditor trusts
    key_file: Path
    public_keys_file: Path
    replaced: str | None  # the label of the key it replaces (still trusted)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "verifier_key": self.verifier_key,
                "key_file": str(self.key_file), "public_keys_file": str(self.public_keys_file),
                "replaced": self.replaced}


def make_audit_key(settings: Settings, name: str, *, rotate: bool) -> AuditKeyChange:
    """A new checkpoint signing key; with ``rotate`` it replaces the current one, whose
    verifier key stays trusted (the checkpoints it signed still verify)."""
    if settings.audit_key_text:
        raise ConfigurationError("the checkpoint signing key comes from LEDGER_AUDIT_KEY: "
                                 "set LEDGER_AUDIT_KEY_FILE instead to make or rotate one")
    path, trusted = settings.audit_key_path, settings.audit_public_keys_path
    if path.exists():
        if not rotate:
            raise ConfigurationError(f"a checkpoint signing key exists at {path}; --rotate "
                                     "replaces it")
        old = CheckpointSigningKey.load(path)
        new = CheckpointSigningKey.rotate(path, trusted)
        return AuditKeyChange(new.verifier.label, new.verifier.encode(), path, trusted,
                              old.verifier.label)
    if rotate:
        raise ConfigurationError(f"no checkpoint signing key at {path} to rotate "
                                 "(`ledger audit keygen` makes one)")
    key = CheckpointSigningKey.generate(path, name)
    TrustedKeys.load(trusted).trust(key.verifier).save(trusted)
    return AuditKeyChange(key.verifier.label, key.verifier.encode(), path, trusted, None)


def load_audit_key(settings: Settings) -> CheckpointSigningKey:
    if settings.audit_key_text:
        return CheckpointSigningKey.from_text(settings.audit_key_text,
                                              source="LEDGER_AUDIT_KEY")
    return CheckpointSigningKey.load(settings.audit_key_path)


def trusted_audit_keys(settings: Settings, path: Path | None = None) -> TrustedKeys:
    """The verifier keys in ``path`` (an auditor's ``--public-key FILE``) or the
    ledger's trusted-keys file; ``ConfigurationError`` if they trust nobody."""
    source = path or settings.audit_public_keys_path
    if path is not None and not path.exists():
        raise ConfigurationError(f"no verifier key file at {path}")
    keys = TrustedKeys.load(source)
    if not keys.trusted:
        raise ConfigurationError(
            f"{source} trusts no checkpoint key: pass --public-key FILE (the output of "
            "`ledger audit public-key`)")
    return keys


def checkpoint_signer(settings: Settings, origin: str) -> CheckpointSigner:
    return CheckpointSigner(load_audit_key(settings), origin,
                            Cadence(settings.checkpoint_every_events,
                                    float(settings.checkpoint_every_seconds)))


def bootstrap_audit_key(settings: Settings, name: str, *, ledger_signed: bool) -> None:
    """A ledger's checkpoint signing key, made on first use (a new ledger, or one from
    before the verifiable log). Not when the operator configures the key, and never in
    place of a lost key next to a log that holds checkpoints: that is refused."""
    if settings.audit_key_text or settings.audit_key_file or settings.audit_public_keys_file:
        return
    path = settings.audit_key_path
    if path.exists():
        return
    if ledger_signed:
        raise ConfigurationError(
            f"no checkpoint signing key at {path}, but the ledger holds checkpoints signed "
            "before: restore the key, or make a new one with `ledger audit keygen` (its "
            "public key joins the trusted ones; give it to your auditors)")
    try:
        make_audit_key(settings, name, rotate=False)
    except ConfigurationError:
        if not path.exists():  # not another process's first use
            raise
