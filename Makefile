# cifarstudy: `make report` runs the study notebooks, `make test` the tests.
# Both create the virtual environment in .venv on first use.
#
#   make report                          reference protocol, real CIFAR-10
#   make report PRESET=smoke             every notebook in seconds, synthetic data
#   make report DEVICE=cpu DATA_ROOT=/data P="epochs=1 lr=0.01"

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= default

OVERRIDES := $(if $(DEVICE),--set device=$(DEVICE)) \
             $(if $(DATA_ROOT),--set data_root=$(DATA_ROOT)) \
             $(if $(P),--set "$(P)")

.PHONY: help env report test lint bench clean-cache

help:
	@sed -n '1,8p' Makefile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

env: $(STAMP)

report: $(STAMP)
	$(PY) -m cifarstudy.suite --preset $(PRESET) $(OVERRIDES)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean-cache:
	rm -rf runs/cache
