"""The keyed digest of an act's content: how a re-delivery is told from another act.

HMAC-SHA256 under a key derived from one of the subject's data keys, never a plain
digest: a plain digest of an act would outlive the erasure of its values, and a guess
at an erased value could be checked against it. The data key is shredded with the
subject's data, and the digest becomes a meaningless string with it.

The data key's material is not used as the MAC key directly (it is an AES-GCM key): a
MAC key is derived from it under a label of its own.
"""

from __future__ import annotations

import hashlib
import hmac

from ledger.crypto.keys import DataKey

_LABEL = b"personal-data-ledger/act-digest/v1"


def act_digest(key: DataKey, content: bytes) -> str:
    """HMAC-SHA256 of ``content`` under a key derived from ``key``, as hex."""
    mac_key = hmac.new(key.material, _LABEL, hashlib.sha256).digest()
    return hmac.new(mac_key, content, hashlib.sha256).hexdigest()


def same_digest(key: DataKey, content: bytes, digest: str) -> bool:
    """Whether ``content`` has ``digest`` under ``key`` (compared in constant time)."""
    return hmac.compare_digest(act_digest(key, content), digest)
