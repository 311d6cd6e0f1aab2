# One venv, bootstrapped idempotently: the stamp is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test serve worker clean constraints bench bench-peers bench-script bench-app

# The versions every install uses are pinned in constraints.txt (`make constraints` renews them).
$(STAMP): pyproject.toml constraints.txt
	@sh scripts/check-build-tools.sh $(PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
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

# The newest versions pyproject.toml's ranges allow, resolved in a new venv and pinned; run
# `make test` with them before committing the file.
constraints:
	sh scripts/renew-constraints.sh $(PYTHON)

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
