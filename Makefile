# cifarstudy: `make report` runs the study notebooks, `make test` the tests.
# Both create the virtual environment in .venv on first use.
#
#   make report                          reference protocol, real CIFAR-10
#   make report PRESET=smoke             every notebook in seconds, synthetic data
#   make report DEVICE=cpu DATA_ROOT=/data P="epochs=1 lr=0.01"
#   make lab                             JupyterLab on the notebooks

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= default

OVERRIDES := $(if $(DEVICE),--set device=$(DEVICE)) \
             $(if $(DATA_ROOT),--set data_root=$(DATA_ROOT)) \
             $(if $(P),--set "$(P)")

.PHONY: help env report test lint lab bench clean-cache index repro-check

help:
	@sed -n '1,9p' Makefile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	# the kernel the notebooks name; papermill and JupyterLab start it from .venv
	$(PY) -m ipykernel install --sys-prefix --name cifarstudy \
		--display-name "Python (cifarstudy)"
	touch $@

$(VENV)/.lab: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,lab]'
	touch $@

lab: $(VENV)/.lab
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ARGS)

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

# rebuild runs/index.html from the run folders (make report does this too)
index: $(STAMP)
	$(PY) -m cifarstudy.runindex

# train one net twice with the same seeds: are the weights bitwise equal?
repro-check: $(STAMP)
	$(PY) -m cifarstudy.repro $(if $(DEVICE),--device $(DEVICE))

# training and evaluation speed: a seed-notebook loop against the engine, side by
# side on this machine (6-10 minutes on 2 cores; real CIFAR-10 arrays when
# DATA_ROOT is set; BENCH_ARGS passes options such as --images, --rounds)
bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
		$(if $(DEVICE),--device $(DEVICE)) $(BENCH_ARGS)
