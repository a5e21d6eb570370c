# The README's two commands are `make demo` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
BENCH_STAMP := $(VENV)/.bench-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help venv infra lock tools test lint unit demo up chaos chaos-cluster bench bench-store bench-booking bench-rebuild bench-audit bench-detection bench-verify asyncapi clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create .venv and install the pinned dependencies

infra:  ## start PostgreSQL and RabbitMQ if they are down, and wait until they answer
	@scripts/ensure-infra.sh

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lock:  ## write deploy/requirements.lock (pins and hashes the image installs) from pyproject.toml
	@test -x var/pip-tools/bin/pip-compile || { $(PYTHON) -m venv var/pip-tools && var/pip-tools/bin/pip install -q pip-tools; }
	var/pip-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	  --no-emit-find-links --output-file deploy/requirements.lock pyproject.toml

tools:  ## install what the suite checks deployment files with (promtool, docker-compose), when possible
	@VENV=$(VENV) scripts/ensure-tools.sh

test: venv infra tools  ## the whole suite on the real PostgreSQL and RabbitMQ
	$(BIN)/ruff check .
	$(BIN)/python scripts/test_shards.py

unit: venv  ## pure-logic tests only (no infrastructure)
	$(BIN)/pytest tests/unit tests/contract

demo: venv infra  ## run the system and its demo
	$(BIN)/carnet demo

up: venv infra  ## run every service until Ctrl-C
	$(BIN)/carnet up

chaos: venv infra  ## faults under load on private servers: 3,000 operations, 18 faults (#10), the tamper table on its ledger (#20); the global log 5 times
	$(BIN)/python -m scripts.chaos --operations $${CHAOS_OPERATIONS:-3000} --rounds $${CHAOS_ROUNDS:-3} --tamper-check
	CARNET_GLOBAL_LOG_RUNS=5 $(BIN)/pytest -q tests/integration/eventstore/test_global_log.py -k tailing_reader

chaos-cluster: venv infra  ## faults under load with 2 replicas of each service on a private 3-node RabbitMQ cluster: a node stopped, a node partitioned (iptables, root), replicas killed, PostgreSQL restarted (#24)
	$(BIN)/python -m scripts.chaos --replicas 2 --nodes 3 --operations $${CHAOS_OPERATIONS:-1500} --rounds $${CHAOS_ROUNDS:-3}

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@rm -f $(VENV)/.bench-* && touch $@

bench: venv infra $(BENCH_STAMP)  ## every benchmark, one page: docs/benchmarks.md (~50 min on 2 cores, run it alone)
	$(BIN)/python scripts/bench/all.py

bench-store: venv infra  ## event store and relay against raw psycopg and pika
	$(BIN)/python scripts/bench/store.py

bench-booking: venv infra  ## recorded vs unrecorded appointment searches (issue #5)
	$(BIN)/python scripts/bench/booking_reads.py --write-docs

bench-rebuild: venv infra  ## carnet replay rebuild vs a raw keyset read of the same log (issue #9)
	$(BIN)/python scripts/bench/rebuild.py --write-docs

bench-audit: venv infra  ## affected-set query at 1M and 10M access records (issue #6)
	$(BIN)/python scripts/bench/audit_index.py --write-docs

bench-detection: venv infra  ## detection's scenario bench: honest partners and attacks on simulated time (issue #19)
	$(BIN)/python scripts/bench/detection.py --write-docs

bench-verify: venv infra  ## ledger verify vs SHA-256 over the same bytes, witness cost per head (issue #20)
	$(BIN)/python scripts/bench/ledger_verify.py --write-docs

asyncapi: venv  ## write docs/asyncapi.yaml from the contract registry
	$(BIN)/carnet contracts asyncapi --output docs/asyncapi.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
