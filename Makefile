# Two entry points for a fresh machine (only Python 3.10+ present):
#   make demo   set up .venv, then run the main job on its built-in default
#   make test   set up .venv, then run the test suite
# Set-up runs once; later calls find the stamp file and start in seconds.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.ignn-pyg-installed
# make test also needs the compiled extras (the "cluster" k-NN backend is tested)
TEST_STAMP := $(VENV)/.ignn-pyg-test-installed
NPROC  := $(shell nproc 2>/dev/null || echo 2)
# The CPU build of torch that lies on this kind of machine's disk; a plain `torch`
# would pull a multi-GB CUDA build.  See README for GPU machines.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test

setup: $(STAMP)

# What the demo, upscaling, evaluation and training need: torch, PyG (which scatters
# with torch's own ops when torch-scatter is absent) and the photo packages.  Nothing
# is compiled: on CPU every k-NN search is the "dense" backend.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e '.[photos]'
	touch $@

# The test extra: torch-scatter and torch-cluster (no wheels on PyPI) compiled against
# the torch above, once (pip caches the wheels), then pytest, selenium.
$(TEST_STAMP): $(STAMP)
	# Their setup.py turns torch's ninja builder off (use_ninja=False), so ninja and
	# MAX_JOBS change nothing.  Instead setuptools' build_ext compiles a package's
	# extension modules (4 and 9) in NPROC threads (DIST_EXTRA_CONFIG), and the two
	# packages build side by side, so no core idles while one finishes its last module.
	@echo "Compiling torch-scatter and torch-cluster (C++, no wheels on PyPI; only the tests" \
	      "need them) on $(NPROC) cores: 15-40 CPU-minutes, so roughly" \
	      "$$(( 15 / $(NPROC) + 1 ))-$$(( 40 / $(NPROC) + 1 )) min here; once, pip caches the result."
	printf '[build_ext]\nparallel = %s\n' $(NPROC) > $(VENV)/parallel_build_ext.cfg
	rm -rf $(VENV)/wheels
	export DIST_EXTRA_CONFIG="$(abspath $(VENV))/parallel_build_ext.cfg"; \
	pids=; for package in torch-scatter torch-cluster; do \
	    $(PIP) wheel --quiet --no-build-isolation --no-deps --wheel-dir $(VENV)/wheels $$package & pids="$$pids $$!"; \
	done; \
	failed=0; for pid in $$pids; do wait $$pid || failed=1; done; test $$failed = 0
	$(PIP) install --quiet $(VENV)/wheels/*.whl
	$(PIP) install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/ignn-pyg demo --out demo_out

# Lint and format first (ruff, configured in pyproject.toml: seconds), then the suite.
# Then the tests whose expectation follows the CPU's precision choice once more, with the
# CPU's answer to "native bf16?" flipped (IGNN_PYG_NATIVE_BF16, docs/model.md#precision):
# every machine checks both of auto's paths, bf16 (emulated on AVX2, so those inputs are
# tiny) and float32.
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q
	IGNN_PYG_NATIVE_BF16=$$($(PY) -c 'from ignn_pyg.runtime.precision import cpu_native_bf16; print(int(not cpu_native_bf16()))') \
	    $(PY) -m pytest -q -m precision_default
