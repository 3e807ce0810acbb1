# The two entry points README.md documents; each first sets up what it needs on a stock machine (idempotent):
# scripts/setup.sh run|test. Python runs in the project's virtual environment $(VENV) (Debian's and Ubuntu's own
# Python refuse a system-wide pip install); PYTHON=... uses another interpreter whose pip may install.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
REPORT_DIR ?= reports/$(shell date -u +%Y%m%dT%H%M%SZ)
SETUP = VENV=$(VENV) PYTHON=$(PYTHON) scripts/setup.sh

.PHONY: setup run run-kind test test-kind unit bench

# Everything `make test` needs.
setup:
	$(SETUP) test

# The main job: the scenario catalogue on the local stack, writing a report.
run:
	$(SETUP) run
	$(PYTHON) -m harness.cli run --report-dir $(REPORT_DIR)

# The harness's own tests: unit and integration (real stack), on three xdist workers: the integration tests mostly
# wait on cert-manager's own timings, so three labs overlap (serially they took 27.8 min here).
test:
	$(SETUP) test
	$(PYTHON) -m pytest tests -p no:cacheprovider -n 3 --dist loadfile

# The kind provider's tests (Docker, the kind images; a cluster per module, minutes each). CI runs them beside `test`.
test-kind:
	CERTCHAOS_PROVIDER=kind $(SETUP) test
	$(PYTHON) -m pytest tests/integration -m kind -p no:cacheprovider -s

# The whole catalogue on a kind cluster with two workers (the reload and node-failure scenarios need nodes).
run-kind:
	CERTCHAOS_PROVIDER=kind $(SETUP) run
	$(PYTHON) -m harness.cli run --provider kind --worker-nodes 2 --workers 4 --report-dir $(REPORT_DIR)-kind

unit:
	$(SETUP) python
	$(PYTHON) -m pytest tests/unit -q

bench:
	$(SETUP) run
	$(PYTHON) benchmarks/stack_start.py
	$(PYTHON) benchmarks/dns_qps.py
