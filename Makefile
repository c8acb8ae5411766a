# make setup : system packages (apt), .venv with pinned dependencies, a local Airflow home
# make demo  : setup, then ingest the bundled sample case through the real Airflow DAG and print the timeline path
# make test  : setup, then ruff and the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng libmagic1 openssl fonts-dejavu-core chromium chromium-driver poppler-utils
DEMO_CASE ?= $(CURDIR)/demo-case

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins

.PHONY: help setup system-packages demo test lint format bench clean

help:
	@echo "make demo   set everything up and ingest the sample case through Airflow"
	@echo "make test   set everything up and run ruff and the tests"
	@echo "make bench  run the benchmarks in benchmarks/"

setup: system-packages $(VENV)/.installed $(AIRFLOW_HOME)/.ready
	@# byte-compile our sources too: environments with PYTHONDONTWRITEBYTECODE would recompile them on every run
	@$(PY) -m compileall -q src dags > /dev/null

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(PY) -m uv pip sync --python $(PY) -q --compile-bytecode requirements.lock
	$(PY) -m uv pip install --python $(PY) -q --no-deps -e .
	touch $@

$(AIRFLOW_HOME)/.ready: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/migrate.log; exit 1)
	touch $@

demo: setup
	rm -rf $(DEMO_CASE)
	$(VENV)/bin/airflow dags test evidence_ingest \
	  -c '{"case_dir": "$(DEMO_CASE)", "sources": ["$(CURDIR)/sample"], "tz": "Europe/London", "examiner": "demo"}' \
	  > $(AIRFLOW_HOME)/demo-run.log 2>&1 || (grep -E "ERROR|Error|Traceback" -A5 $(AIRFLOW_HOME)/demo-run.log | tail -40; exit 1)
	@grep -q "state=success" $(AIRFLOW_HOME)/demo-run.log || (echo "the DAG run did not succeed: see $(AIRFLOW_HOME)/demo-run.log"; exit 1)
	$(VENV)/bin/evidence verify --case $(DEMO_CASE)
	$(VENV)/bin/evidence timeline --case $(DEMO_CASE)
	$(VENV)/bin/evidence timeline --case $(DEMO_CASE) --format csv -o $(DEMO_CASE)/timeline.csv
	@echo "Timeline: $(DEMO_CASE)/timeline.csv"

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) benchmarks/run

clean:
	rm -rf $(DEMO_CASE) .pytest_cache .ruff_cache
