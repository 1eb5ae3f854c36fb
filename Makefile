# Two commands for a new user: `make bench` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: bench test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(PY) -m bench

test: $(STAMP)
	$(PY) -m pytest -n 2

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
