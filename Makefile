# One venv, bootstrapped idempotently: the stamp is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test serve worker clean bench bench-peers bench-script bench-app

$(STAMP): pyproject.toml
	@sh scripts/check-build-tools.sh $(PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/alertgate run

test: $(STAMP)
	$(BIN)/python -m pytest -q

serve: $(STAMP)
	$(BIN)/alertgate serve

worker: $(STAMP)
	$(BIN)/alertgate worker

clean:
	rm -rf $(VENV) var .pytest_cache

bench: $(STAMP)
	$(BIN)/python bench/run.py --workers $(or $(WORKERS),2)

# The same run plus Prometheus Alertmanager and Alerta (on the local PostgreSQL), fed the same storm.
bench-peers: $(STAMP)
	$(BIN)/python bench/run.py --peers --workers $(or $(WORKERS),2)

# The ingest script's Redis cost as instructions (valgrind): the same on every run of the same code.
bench-script: $(STAMP)
	$(BIN)/python bench/script_cost.py

# The gateway's own instructions per request, in-process against the ceiling app (valgrind; a few minutes).
bench-app: $(STAMP)
	$(BIN)/python bench/app_cost.py --instructions
