"""Signed checkpoints in the C2SP formats, and the keys that sign and verify them.

From https://c2sp.org/signed-note:

    A signed note consists of a text ending in newline (U+000A), followed by a blank
    line (only a newline), followed by one or more signature lines of this form: em
    dash (U+2014), space (U+0020), key name, space, base64-encoded signature, newline.

    Signatures are the base64 encoding of 4+n bytes. The first four bytes in the
    signature are the uint32 key ID stored in big-endian order.

    key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]

From https://c2sp.org/tlog-checkpoint:

    The note text is a sequence of at least three non-empty lines, separated by
    newlines (U+000A).
     1. The first line is the origin [...]
     2. The second line is the tree size, the ASCII decimal representation of the
        number of leaves in the tree, with no leading zeroes (unless the tree is
        empty, in which case the tree size is 0).
     3. The third line is the root hash, the base64 encoding of the root of the
        [RFC 6962] Merkle hash tree at the specified tree size.
     4. Any following lines are extension lines, opaque and OPTIONAL. Extension
        lines, if any, MUST be non-empty.

    According to the note specification, clients MUST ignore unknown signatures.
    This enables, for example, log key rotation, and witness cosigning.
"""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.audit.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    ledger_key_name,
    open_checkpoint,
    shard_origin,
    sign_checkpoint,
)
from ledger.audit.errors import CheckpointMalformed, CheckpointRefused
from ledger.audit.frontier import Frontier
from ledger.audit.merkle import leaf_hash
from ledger.audit.signed_note import (
    SignedNote,
    VerifierKey,
    open_note,
    raw_public,
    sign_note,
)
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys
from ledger.errors import ConfigurationError

NAME = ledger_key_name("acme")
ORIGIN = shard_origin("acme", 3)
ROOT = Frontier.of(leaf_hash(b"%d" % i) for i in range(1234)).root()
AT = datetime(2025, 3, 1, 12, 30, 5, tzinfo=UTC)

# The example of golang.org/x/mod/sumdb/note (also quoted by the signed-note spec's
# implementations): another implementation's key, text and signature. Ed25519 is
# deterministic, so signing the same text with the same key must give the same bytes.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + ("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGU"
                     "gYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
# The example checkpoint of c2sp.org/tlog-checkpoint.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4UR"
    "YN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n")


@pytest.fixture
def key(tmp_path: Path) -> CheckpointSigningKey:
    return CheckpointSigningKey.generate(tmp_path / "audit.key", NAME)


def trusting(*keys: CheckpointSigningKey) -> TrustedKeys:
    trusted = TrustedKeys()
    for k in keys:
        trusted = trusted.trust(k.verifier)
    return trusted


def test_the_go_implementation_s_example_is_reproduced_byte_for_byte() -> None:
    signer = CheckpointSigningKey.from_text(GO_SIGNER)
    assert signer.to_text() == GO_SIGNER
    assert signer.verifier.encode() == GO_VERIFIER
    assert VerifierKey.parse(GO_VERIFIER) == signer.verifier
    signed = SignedNote(GO_TEXT, (sign_note(GO_TEXT, signer.name, signer.private),))
    assert signed.encode() == GO_NOTE
    parsed = SignedNote.parse(GO_NOTE)
    assert open_note(parsed, [VerifierKey.parse(GO_VERIFIER)]) == [signer.verifier]
    altered = SignedNote.parse(GO_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(CheckpointRefused, match=r"PeterNeumann\+c74f20a3 does not verify"):
        open_note(altered, [signer.verifier])


def test_the_spec_s_example_checkpoint_parses() -> None:
    signed = SignedCheckpoint.parse(SPEC_CHECKPOINT)
    assert signed.checkpoint.origin == "example.com/behind-the-sofa"
    assert signed.checkpoint.size == 20852163
    assert len(signed.checkpoint.root) == 32
    assert signed.encode() == SPEC_CHECKPOINT
    (signature,) = signed.note.signatures
    assert (signature.name, len(signature.signature)) == ("example.com/behind-the-sofa", 64)
    with pytest.raises(CheckpointRefused, match="no trusted key signed it"):
        signed.verify(TrustedKeys())


def test_a_checkpoint_is_written_exactly_in_the_c2sp_form(key: CheckpointSigningKey) -> None:
    checkpoint = Checkpoint.at(ORIGIN, 1234, ROOT, AT)
    note = sign_checkpoint(checkpoint, key).encode()
    body, signature_line = note.split("\n\n")
    assert body + "\n" == (f"personal-data-ledger/acme/shard-3\n1234\n"
                           f"{base64.b64encode(ROOT).decode()}\n"
                           "timestamp 2025-03-01T12:30:05Z\n")
    match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)\n", signature_line)
    assert match is not None
    assert match[1] == "personal-data-ledger/acme"
    blob = base64.b64decode(match[2])
    public = raw_public(key.private.public_key())
    expected_id = hashlib.sha256(NAME.encode() + b"\n\x01" + public).digest()[:4]
    assert blob[:4] == expected_id
    key.private.public_key().verify(blob[4:], (body + "\n").encode())  # raises if not
    typed_key = base64.b64encode(b"\x01" + public).decode()
    assert key.verifier.encode() == f"{NAME}+{expected_id.hex()}+{typed_key}"


def test_a_checkpoint_round_trips(key: CheckpointSigningKey) -> None:
    checkpoint = Checkpoint.at(ORIGIN, 1234, ROOT, AT)
    text = sign_checkpoint(checkpoint, key).encode()
    opened = open_checkpoint(text, trusting(key), origin=ORIGIN)
    assert opened == checkpoint
    assert opened.timestamp == AT
    assert SignedCheckpoint.parse(text).encode() == text
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert open_checkpoint(sign_checkpoint(empty, key).encode(), trusting(key)) == empty


@pytest.mark.parametrize(("line", "replacement"), [
    (1, "1235"), (1, "1233"),
    (2, base64.b64encode(bytes(32)).decode()),
    (0, "personal-data-ledger/acme/shard-4"),
    (3, "timestamp 2025-03-01T12:30:06Z"),
])
def test_a_changed_size_root_origin_or_time_is_refused(key: CheckpointSigningKey, line: int,
                                                       replacement: str) -> None:
    text = sign_checkpoint(Checkpoint.at(ORIGIN, 1234, ROOT, AT), key).encode()
    lines = text.split("\n")
    lines[line] = replacement
    with pytest.raises(CheckpointRefused, match=r"signature of key personal-data-ledger/acme"
                                                r"\+[0-9a-f]{8} does not verify"):
        open_checkpoint("\n".join(lines), trusting(key))


def test_a_checkpoint_of_another_shard_is_refused(key: CheckpointSigningKey) -> None:
    text = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), key).encode()
    with pytest.raises(CheckpointRefused, match="of personal-data-ledger/acme/shard-3 was "
                                                "given for personal-data-ledger/acme/shard-1"):
        open_checkpoint(text, trusting(key), origin=shard_origin("acme", 1))


def test_unknown_signatures_are_ignored_and_a_known_bad_one_rejects(
        key: CheckpointSigningKey) -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 1234, ROOT), key)
    witness = Ed25519PrivateKey.generate()
    cosigned = SignedNote(signed.note.text, (
        sign_note(signed.note.text, "witness.example/w1", witness), *signed.note.signatures))
    assert open_checkpoint(cosigned.encode(), trusting(key)).size == 1234
    # same name, other key: an unknown key by id, ignored; the real signature still counts
    impostor = sign_note(signed.note.text, NAME, Ed25519PrivateKey.generate())
    with_impostor = SignedNote(signed.note.text, (impostor, *signed.note.signatures))
    assert open_checkpoint(with_impostor.encode(), trusting(key)).size == 1234
    # a signature under a trusted key's name and id that does not verify rejects the note
    (good,) = signed.note.signatures
    forged = type(good)(good.name, good.key_id, bytes(64))
    with pytest.raises(CheckpointRefused, match="does not verify"):
        open_checkpoint(SignedNote(signed.note.text, (forged, good)).encode(), trusting(key))


def test_a_rotated_key_s_old_checkpoints_still_verify(tmp_path: Path) -> None:
    key_file, trusted_file = tmp_path / "audit.key", tmp_path / "trusted-keys"
    first = CheckpointSigningKey.generate(key_file, NAME)
    before = sign_checkpoint(Checkpoint(ORIGIN, 10, ROOT), first).encode()
    second = CheckpointSigningKey.rotate(key_file, trusted_file)
    assert second.name == first.name
    assert second.verifier.key_id != first.verifier.key_id
    assert CheckpointSigningKey.load(key_file).verifier == second.verifier
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    after = sign_checkpoint(Checkpoint(ORIGIN, 20, ROOT), second).encode()
    trusted = TrustedKeys.load(trusted_file)
    assert trusted.trusted == (first.verifier, second.verifier)
    assert open_checkpoint(before, trusted).size == 10
    assert open_checkpoint(after, trusted).size == 20
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_retired_key_is_refused_by_name(tmp_path: Path) -> None:
    key_file, trusted_file = tmp_path / "audit.key", tmp_path / "trusted-keys"
    first = CheckpointSigningKey.generate(key_file, NAME)
    before = sign_checkpoint(Checkpoint(ORIGIN, 10, ROOT), first).encode()
    second = CheckpointSigningKey.rotate(key_file, trusted_file)
    after = sign_checkpoint(Checkpoint(ORIGIN, 20, ROOT), second).encode()
    TrustedKeys.load(trusted_file).retire(first.verifier.label).save(trusted_file)
    trusted = TrustedKeys.load(trusted_file)
    assert trusted.retired == (first.verifier,)
    with pytest.raises(CheckpointRefused,
                       match=rf"signed only by retired key\(s\) {re.escape(first.verifier.label)}"):
        open_checkpoint(before, trusted)
    assert open_checkpoint(after, trusted).size == 20
    assert trusted_file.read_text().splitlines() == [
        second.verifier.encode(), f"retired {first.verifier.encode()}"]
    with pytest.raises(ConfigurationError, match="was retired"):
        trusted.trust(first.verifier)
    with pytest.raises(ConfigurationError, match="no trusted key"):
        trusted.retire(first.verifier.label)


def test_a_key_file_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    key = CheckpointSigningKey.generate(path, NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith(f"PRIVATE+KEY+{NAME}+")
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        CheckpointSigningKey.generate(path, NAME)
    assert CheckpointSigningKey.load(path).verifier == key.verifier
    assert "PRIVATE" not in repr(key)
    assert key.verifier.label in repr(key)


def test_missing_and_corrupt_key_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no checkpoint signing key"):
        CheckpointSigningKey.load(tmp_path / "absent")
    corrupt = tmp_path / "corrupt"
    corrupt.write_text(GO_SIGNER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(ConfigurationError, match="is not a checkpoint signing key"):
        CheckpointSigningKey.load(corrupt)
    (tmp_path / "trusted").write_text("# comment\n\nnot-a-key\n")
    with pytest.raises(ConfigurationError, match=r"trusted:3:"):
        TrustedKeys.load(tmp_path / "trusted")
    assert TrustedKeys.load(tmp_path / "absent") == TrustedKeys()


@pytest.mark.parametrize("note", [
    "origin\n1\nAAAA\n",  # no signatures
    "origin\n01\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AAAAAAA=\n",
    "origin\n1\n" + base64.b64encode(bytes(31)).decode() + "\n\n\u2014 k AAAAAAA=\n",
    "origin\n1\nnot base64\n\n\u2014 k AAAAAAA=\n",
    "origin\n1\n\n\u2014 k AAAAAAA=\n",  # two lines only
    "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n- k AAAAAAA=\n",
    "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AA\n",
    "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\r\n\n\u2014 k AAAAAAA=\n",
    "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k+x AAAAAAA=\n",
])
def test_malformed_checkpoints_are_refused_as_malformed(note: str) -> None:
    with pytest.raises(CheckpointMalformed):
        SignedCheckpoint.parse(note)


def test_key_names_follow_the_spec() -> None:
    with pytest.raises(CheckpointMalformed):
        ledger_key_name("has space")
    with pytest.raises(CheckpointMalformed):
        shard_origin("a+b", 0)
    with pytest.raises(CheckpointMalformed, match="key id"):
        VerifierKey.parse(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))
