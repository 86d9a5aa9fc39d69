# The two set-up commands of the README, and the steps they are made of.
#   make demo   install the ledger into .venv and run its main job on the embedded default
#   make test   install everything the tests need (incl. Kafka jars, PostgreSQL, Chromium) and run them all
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA_LIB := docker/kafka/target/lib

.PHONY: demo test install install-test kafka-jars postgres chromium kcat lint typecheck pytest bench clean

demo: install
	$(BIN)/ledger demo

test: install-test kafka-jars postgres chromium kcat lint typecheck pytest

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

install-test: $(VENV)/.installed-test
$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# Apache's own broker jars from Maven Central; never committed.
kafka-jars: $(KAFKA_LIB)/.fetched
$(KAFKA_LIB)/.fetched: docker/kafka/pom.xml
	@command -v java >/dev/null || { echo "java not found: apt-get install -y openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "mvn not found: apt-get install -y maven"; exit 1; }
	mvn --batch-mode --quiet -f docker/kafka/pom.xml dependency:copy-dependencies
	touch $@

# A PostgreSQL server from Debian's packages for the PostgreSQL adapters' contract tests.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing PostgreSQL from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# Headless Chromium from Debian's packages: the legal tests render the DSAR report in it,
# and the web console's browser test drives it through chromium-driver (Selenium).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing Chromium from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# kcat from Debian's packages: an upstream producer built on librdkafka, whose default
# partitioner is not murmur2 (the interop test sends acts with it).
kcat:
	@if ! command -v kcat >/dev/null 2>&1; then \
		echo "installing kcat from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; \
	fi

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -v --durations=10

# Benchmarks print numbers and ratios; they never fail a build. 100k subjects takes minutes:
# `$(BIN)/python bench/bench_projections.py --subjects 10000 100000` for the full run.
bench: install-test kafka-jars
	$(BIN)/python bench/bench_crypto.py
	$(BIN)/python bench/bench_kafka.py --workload new-subjects
	$(BIN)/python bench/bench_kafka.py --workload mixed
	$(BIN)/python bench/bench_projections.py --subjects 10000

clean:
	rm -rf $(VENV) docker/kafka/target .mypy_cache .ruff_cache .pytest_cache
