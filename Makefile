# duban — the common jobs. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= deploy/config/example
UV_VERSION := 0.13.9

# `make run` talks to the local stack (deploy/local/stack.sh); override in the environment.
# Only `run` gets these: tests set up their own addresses.
run: export DUBAN_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
run: export DUBAN_REDIS_URL ?= redis://127.0.0.1:6390/0
run: export DUBAN_SMTP_HOST ?= 127.0.0.1
run: export DUBAN_SMTP_PORT ?= 1025
run: export DUBAN_SMTP_FROM ?= duban@localhost
run: export DUBAN_SMTP_TLS ?= none
# Signs the acknowledgement links of `make run`'s messages: a local value, never deploy it.
run: export DUBAN_ACK_SECRET ?= make-run-local-ack-secret
# Every other channel of the example config goes to the local provider stand-ins
# (deploy/local/standins, started by stack.sh): their addresses and test credentials
# (DUBAN_WECOM_WEBHOOK_URL, DUBAN_ALIYUN_SMS_ENDPOINT, DUBAN_WECOM_API_BASE, ...,
# DUBAN_CALLBACK_TOKEN) come from `python -m deploy.local.standins --env`, in the recipe.

.PHONY: setup run test test-unit test-integration lint format typecheck bench chaos stack-up \
        stack-down schemas asyncapi check simulate clean

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --inexact --quiet
	@touch $@

stack-up: setup
	bash deploy/local/stack.sh up

stack-down:
	bash deploy/local/stack.sh down

run: setup stack-up
	@echo
	@echo "duban runs with $(CONFIG). In another terminal, publish an example event:"
	@echo "    $(BIN)/python deploy/local/publish_example.py"
	@echo "Every message it sends (SMS, work chat, email, webhook) shows in the local inbox:"
	@echo "    http://127.0.0.1:$${DUBAN_STACK_INBOX_PORT:-8030}/"
	@echo
	eval "$$($(BIN)/python -m deploy.local.standins --env)" && \
	exec $(BIN)/duban run all --config $(CONFIG)

# The suite starts the local stack when it is not running (tests/stack.py); what it started
# it stops again, a stack that was already up (`make run`) is left as it was.
test: setup lint typecheck
	@if bash deploy/local/stack.sh status >/dev/null 2>&1; then was_up=1; else was_up=0; fi; \
	$(BIN)/pytest; rc=$$?; \
	if [ $$was_up = 0 ]; then bash deploy/local/stack.sh down; fi; \
	exit $$rc

test-unit: setup
	$(BIN)/pytest -m "not integration"

test-integration: setup
	$(BIN)/pytest -m integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

check: setup
	$(BIN)/duban config check --config $(CONFIG)

schemas: setup
	$(BIN)/python tools/export_schemas.py

# The document takes its message schemas from contracts/schemas/: regenerate those first.
asyncapi: schemas
	$(BIN)/python tools/export_asyncapi.py

bench: setup stack-up
	$(BIN)/python -m tests.perf.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# A seeded fault run on real processes, judged by the simulate oracle (tests/chaos/run.py;
# about --minutes plus 3 minutes): make chaos ARGS="--seed 7 --minutes 10". Not part of
# `make test`; it starts its own Kafka and Redis (the shared stack only lends its jars).
chaos: setup stack-up
	$(BIN)/python -m tests.chaos.run $(ARGS)
