"""Kafka adapters: the ledger's system of record (DESIGN.md, decisions 1 and 3).

``ledger.kafka.admin`` declares and checks the topics. This package imports nothing
on purpose, so importing one adapter never pulls in the others, and nothing here
touches the network until a function is called.
"""
