# The GoCardless commerce pipeline. Every target installs what it needs on a fresh machine.
#   make demo     run the demo pipeline end to end (sandbox → Airflow DAGs → DuckDB warehouse)
#   make test     run the test suite
#   make airflow  start `airflow standalone` with the sandbox and demo merchants (UI on :8080)
#   make bench    run the benchmark script against the sandbox and print its figures

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed

export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install demo test airflow bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.demo

# The browser test (real api-server + headless Chromium) runs with: make test PYTEST_ARGS="-m browser"
PYTEST_ARGS ?= -m "not browser"
test: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

airflow: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.demo --standalone

bench: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m gocardless_commerce.devtools.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .airflow dags/merchants.json
