# make setup : system packages (apt), .venv with pinned dependencies, a local Airflow home
# make demo  : setup, then ingest the bundled sample case (sample/) through the real Airflow DAG, print a summary
#              and the timeline path
# make test  : setup, then ruff and the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
# Validators the tests run as programs (case_validate), in their own venv so their dependencies (pandas)
# never load into the product's processes.
TOOLS_VENV := .venv-tools
PY := $(VENV)/bin/python
# postgresql and redis-server: tests/test_celery_deployment.py starts its own throwaway server of each on free
# loopback ports; a service the packages may start at install (5432, 6379) is not used and not in the way.
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng libmagic1 openssl fonts-dejavu-core chromium chromium-driver poppler-utils postgresql redis-server
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

setup: system-packages $(VENV)/.installed $(TOOLS_VENV)/.installed $(AIRFLOW_HOME)/.ready
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

$(TOOLS_VENV)/.installed: tests/tools/requirements.lock $(VENV)/.installed
	test -x $(TOOLS_VENV)/bin/python || $(PY) -m uv venv -q --python $(PY) $(TOOLS_VENV)
	$(PY) -m uv pip sync --python $(TOOLS_VENV)/bin/python -q tests/tools/requirements.lock
	touch $@

$(AIRFLOW_HOME)/.ready: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/migrate.log; exit 1)
	touch $@

# The sample case's account owner (sample/README.md): number, address, and the name the chat exports show.
DEMO_CONF := {"case_dir": "$(DEMO_CASE)", "sources": ["$(CURDIR)/sample"], "tz": "Europe/London", \
  "region": "GB", "owners": ["+44 7700 900001", "sam.taylor@example.org", "Sam Taylor"], "examiner": "demo"}
# How the demo's summary is printed: wide enough for its tables when output is not a terminal.
DEMO_COLUMNS ?= 160

demo: setup
	rm -rf $(DEMO_CASE)
	$(VENV)/bin/airflow dags test evidence_ingest -c '$(DEMO_CONF)' \
	  > $(AIRFLOW_HOME)/demo-run.log 2>&1 || (grep -E "ERROR|Error|Traceback" -A5 $(AIRFLOW_HOME)/demo-run.log | tail -40; exit 1)
	@grep -q "state=success" $(AIRFLOW_HOME)/demo-run.log || (echo "the DAG run did not succeed: see $(AIRFLOW_HOME)/demo-run.log"; exit 1)
	$(VENV)/bin/evidence verify --case $(DEMO_CASE)
	@echo; echo "== What the case holds, per channel"
	@COLUMNS=$(DEMO_COLUMNS) $(VENV)/bin/evidence query --case $(DEMO_CASE) \
	  "SELECT platform, kind, count(*) AS events, min(occurred_at_utc)::DATE AS first, max(occurred_at_utc)::DATE AS last \
	   FROM timeline GROUP BY ALL ORDER BY events DESC"
	@echo; echo "== Suggested links between numbers, addresses and accounts (none confirmed; the reasons:"
	@echo "   $(VENV)/bin/evidence actors suggestions --case $(DEMO_CASE))"
	@COLUMNS=$(DEMO_COLUMNS) $(VENV)/bin/evidence query --case $(DEMO_CASE) \
	  "SELECT s.suggestion_id, s.confidence, a.kind || ':' || a.value AS identifier, \
	     CASE WHEN b.identifier_id = a.identifier_id THEN '(itself, on two platforms)' \
	     ELSE b.kind || ':' || b.value END AS linked_to, s.label_hint AS name, array_to_string(s.rules, ', ') AS rules \
	   FROM actor_suggestions s JOIN identifiers a ON a.identifier_id = s.identifier_id \
	   JOIN identifiers b ON b.identifier_id = s.other_identifier_id ORDER BY s.confidence DESC, identifier, linked_to"
	@echo; echo "== Screenshot bubbles that show an exported message"
	@COLUMNS=$(DEMO_COLUMNS) $(VENV)/bin/evidence query --case $(DEMO_CASE) \
	  "SELECT o.sent_at_local AS on_screen, e.platform, e.sent_at_local AS exported, e.body AS text \
	   FROM corroborations c JOIN messages o ON o.message_id = c.ocr_message_id \
	   JOIN messages e ON e.message_id = c.message_id ORDER BY e.sent_at_utc"
	@echo; echo "== Key dates: the stop request is detected in Sam's own message; the advocate adds the others"
	$(VENV)/bin/evidence events add --case $(DEMO_CASE) --kind police_report --at 2024-03-08T11:00 \
	  --note "Reported to police" --examiner demo
	$(VENV)/bin/evidence events add --case $(DEMO_CASE) --kind order --at 2024-04-05T14:20 \
	  --note "Stalking Protection Order served" --examiner demo
	@COLUMNS=$(DEMO_COLUMNS) $(VENV)/bin/evidence events list --case $(DEMO_CASE)
	$(VENV)/bin/evidence timeline --case $(DEMO_CASE) --format csv -o $(DEMO_CASE)/timeline.csv
	$(VENV)/bin/evidence report --case $(DEMO_CASE) -o $(DEMO_CASE)/report.html --examiner demo
	$(VENV)/bin/evidence export --case $(DEMO_CASE) --format incident-log -o $(DEMO_CASE)/incident-log.csv \
	  --examiner demo
	@echo
	@echo "Timeline:     $(DEMO_CASE)/timeline.csv"
	@echo "Incident log: $(DEMO_CASE)/incident-log.csv"
	@echo "Report:       $(DEMO_CASE)/report.html"

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
