# The two entry points README.md documents; both set up a fresh machine first (idempotent).
PYTHON ?= python3
REPORT_DIR ?= reports/$(shell date -u +%Y%m%dT%H%M%SZ)

.PHONY: setup run test unit bench

setup:
	PYTHON=$(PYTHON) scripts/setup.sh

# The main job: the scenario catalogue on the local stack, writing a report.
run: setup
	$(PYTHON) -m harness.cli run --report-dir $(REPORT_DIR)

# The harness's own tests: unit and integration (real stack).
test: setup
	$(PYTHON) -m pytest tests -p no:cacheprovider

unit:
	$(PYTHON) -m pytest tests/unit -q

bench: setup
	$(PYTHON) benchmarks/stack_start.py
	$(PYTHON) benchmarks/dns_qps.py
