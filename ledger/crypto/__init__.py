"""Crypto-shredding: per-(subject, retention scope) data keys, wrapped by a master key.

Personal values are sealed with AES-256-GCM under random data keys; erasing a person
destroys their keys, which leaves every copy of the ciphertext unreadable while the
event log stays append-only. Modules:

- ``aead``: sealing one value, and the associated data that binds it to its place;
- ``master_key``: the key that wraps data keys at rest (file, environment);
- ``keys``: data-key records and the ``KeyStore`` port;
- ``identity``: normalising natural identifiers and hashing them for lookup;
- ``key_store_sqlite`` / ``key_store_postgres``: the store adapters;
- ``key_cache``: a bounded cache in front of any store, evicted on shred.
"""
