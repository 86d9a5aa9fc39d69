"""Tamper evidence: each shard's events are the leaves of an RFC 9162 Merkle tree whose
heads the writer signs as C2SP checkpoints, so an auditor can check offline, without any
data key, that the log is complete and unaltered and extends what was signed before.

Pure Python and ``cryptography``: no Kafka, no SQL. ``merkle`` (hashing and proofs),
``frontier`` (the tree's right edge, committed with each batch), ``leaves`` (what a
stored event contributes), ``replay`` (recompute and compare), ``signed_note``,
``checkpoint`` and ``signing_keys`` (signed tree heads and their keys), ``proofs``
(what an auditor verifies offline).
"""
