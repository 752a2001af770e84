# Entry points: `make demo` (needs only Python) and `make test` (installs what it needs, then
# lint, types and the unit, integration and e2e suites against real PostgreSQL and ZooKeeper).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

VENV := .venv/bin
PYTEST_SUITES := tests/unit tests/integration tests/e2e

.PHONY: demo test bench lint proto clean bootstrap bootstrap-python

bootstrap:
	bash deploy/bootstrap.sh

bootstrap-python:
	bash deploy/bootstrap.sh --python-only

demo: bootstrap-python
	$(VENV)/ordermesh demo

# pytest exits 5 when it collected no test: a suite that ran nothing must fail loudly, not pass.
test: bootstrap
	$(VENV)/ruff check .
	$(VENV)/mypy
	$(VENV)/pytest $(PYTEST_SUITES) -q -p no:cacheprovider || { \
	  rc=$$?; [ $$rc -ne 5 ] || echo "make test: FAILED: pytest collected no tests" >&2; exit $$rc; }

bench:
	bash deploy/bootstrap.sh --bench
	$(VENV)/pytest tests/benchmarks -s -q

lint: bootstrap-python
	$(VENV)/ruff check .
	$(VENV)/mypy

proto: bootstrap-python
	$(VENV)/python -m ordermesh.api.generate

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
