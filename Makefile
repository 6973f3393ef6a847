# The GoCardless commerce pipeline. Every target installs what it needs on a fresh machine.
#   make demo     run the demo pipeline end to end (sandbox → Airflow DAGs → DuckDB warehouse)
#   make test     run the test suite
#   make airflow  serve the Airflow UI over what the demo built (keeps it; Ctrl-C stops everything)
#   make bench    run the benchmark script against the sandbox and print its figures
#   make reset    delete what the demo built (warehouse, sandbox data, registry snapshot, Airflow metadata)
#
# Ports (all on 127.0.0.1): SANDBOX_PORT (4010), AIRFLOW_PORT (8080), e.g. make airflow AIRFLOW_PORT=8090

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed

export PIP_DISABLE_PIP_VERSION_CHECK = 1
export SANDBOX_PORT ?= 4010
export AIRFLOW_PORT ?= 8080

.PHONY: install demo test browser-deps airflow bench reset clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.demo

# Pages are tested in a real headless Chromium (Debian's chromium + chromium-driver): installed
# here when missing and apt-get can run; without them the browser tests fail saying what to install.
# Skip them with: make test PYTEST_ARGS='-m "not browser"'
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium/chromedriver missing and not installable here: the browser tests will fail"

test: $(STAMP) browser-deps
	PATH="$(BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

airflow: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.demo --standalone

bench: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.bench $(BENCH_ARGS)

reset: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.demo --reset

clean:
	rm -rf $(VENV) data .airflow dags/merchants.json
