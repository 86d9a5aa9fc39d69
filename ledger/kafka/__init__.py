"""Kafka adapters: the ledger's system of record (DESIGN.md, decisions 1 and 3).

``ledger.kafka.admin`` declares and checks the topics; ``ledger.kafka.factory`` is the
eventsourcing persistence module (``PERSISTENCE_MODULE=ledger.kafka.factory``) over
``ledger.kafka.recorder``; ``ledger.kafka.transactions`` guards the transactional calls
that kafka-python lets wait forever; ``ledger.kafka.notifications`` reads a shard from
a position on (projectors); ``ledger.kafka.partitioning`` names a subject's shard;
``ledger.kafka.shard_index`` persists a writer's committed events (SQLite or PostgreSQL)
so a takeover reads only the partition's tail (``ledger.kafka.shard_events``).
This package imports nothing
on purpose, so importing one adapter never pulls in the others, and nothing here
touches the network until a function is called.
"""
