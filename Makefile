# The two quickstart commands are `make dry-run` and `make test`; both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install dry-run test test-fast test-image bench lint clean

# uv installs what pip would (the same versions from PyPI) about 3× faster, from an empty
# cache (bench/startup.py --install: 32 s against pip's 98 s; BENCHMARKS.md).
# Bytecode is compiled here, for the dependencies and for our own packages, because where
# PYTHONDONTWRITEBYTECODE=1 is set (as on these machines) Python never caches it: every
# process the suite starts would compile its imports again.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[test]'
	$(BIN)/python -m compileall -q kernel dientap mocks scenarios drills metrics reports locustfile.py
	touch $(STAMP)

install: $(STAMP)

## The main job: a short nationwide smoke dry run against the embedded mocks.
dry-run: $(STAMP)
	$(BIN)/dientap run smoke

## The whole suite, end-to-end tests included (what .ci/run runs).
test: $(STAMP) lint
	scripts/install-system-tools
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not saturating and not image"
	$(BIN)/pytest -m saturating

## The container image built with podman and run as deploy/k8s/ runs it (≈ 75 s, and it reaches
## the Debian mirror for the base): kept out of `make test` to hold the suite within 15 minutes.
test-image: $(STAMP)
	scripts/install-system-tools --image
	$(BIN)/pytest -m image -v

## Fast subset for developers: the tests not marked e2e (no service processes or load runs).
test-fast: $(STAMP)
	$(BIN)/pytest -m "not e2e" -q

## The walls: import contracts (the layers), ruff, mypy, and bandit's security lint
## (no medium- or high-severity finding). Configured in pyproject.toml; part of `make test`.
## mypy (≈ 17 s from a clean clone) and bandit (≈ 8 s) are single-threaded and independent, so
## they run side by side; bandit's report is printed after mypy's, and either failing fails.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/bandit -q -ll -c pyproject.toml -r kernel dientap mocks scenarios drills metrics reports locustfile.py \
		> $(VENV)/bandit.log 2>&1 & bandit=$$!; \
	$(BIN)/mypy; mypy=$$?; \
	wait $$bandit; bandit=$$?; cat $(VENV)/bandit.log; \
	test $$mypy -eq 0 && test $$bandit -eq 0

## Every benchmark (≈ 18 minutes; figures and commands in BENCHMARKS.md).
bench: $(STAMP)
	$(BIN)/python bench/mocks.py
	$(BIN)/python bench/inprocess.py
	$(BIN)/python bench/sqlite_paths.py
	$(BIN)/python bench/loadgen.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/metrics_overhead.py
	$(BIN)/python bench/commune_latency.py
	$(BIN)/python bench/spawn_messages.py

clean:
	rm -rf $(VENV) .dientap runs .pytest_cache .hypothesis
