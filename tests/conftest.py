"""Shared fixtures. Each backend's fixtures live in their own module, registered here."""

pytest_plugins = ["tests.kafka_fixtures", "tests.postgres_fixtures"]
