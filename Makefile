# Two entry points for a fresh machine (only Python 3.10+ present):
#   make demo   set up .venv, then run the main job on its built-in default
#   make test   set up .venv, then run the test suite
# Set-up runs once; later calls find the stamp file and start in seconds.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.ignn-pyg-installed
# The CPU build of torch that lies on this kind of machine's disk; a plain `torch`
# would pull a multi-GB CUDA build.  See README for GPU machines.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "$(TORCH_SPEC)"
	# No wheels on PyPI: compiled against the torch above (about 14 min on 2 cores
	# the first time, pip caches the wheels afterwards).
	$(PIP) install --quiet --no-build-isolation torch-scatter torch-cluster
	$(PIP) install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/ignn-pyg demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q
