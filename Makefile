# The two entry points README.md documents; both set up a fresh machine first (idempotent).
PYTHON ?= python3
REPORT_DIR ?= reports/$(shell date -u +%Y%m%dT%H%M%SZ)

.PHONY: setup run run-kind test test-kind unit bench

setup:
	PYTHON=$(PYTHON) scripts/setup.sh

# The main job: the scenario catalogue on the local stack, writing a report.
run: setup
	$(PYTHON) -m harness.cli run --report-dir $(REPORT_DIR)

# The harness's own tests: unit and integration (real stack).
test: setup
	$(PYTHON) -m pytest tests -p no:cacheprovider

# The kind provider's tests (Docker, the kind images; a cluster per module, minutes each). CI runs them after `test`.
test-kind:
	CERTCHAOS_PROVIDER=kind PYTHON=$(PYTHON) scripts/setup.sh
	$(PYTHON) -m pytest tests/integration -m kind -p no:cacheprovider -s

# The whole catalogue on a kind cluster with two workers (the reload and node-failure scenarios need nodes).
run-kind:
	CERTCHAOS_PROVIDER=kind PYTHON=$(PYTHON) scripts/setup.sh
	$(PYTHON) -m harness.cli run --provider kind --worker-nodes 2 --workers 4 --report-dir $(REPORT_DIR)-kind

unit:
	$(PYTHON) -m pytest tests/unit -q

bench: setup
	$(PYTHON) benchmarks/stack_start.py
	$(PYTHON) benchmarks/dns_qps.py
