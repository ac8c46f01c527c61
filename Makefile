# Set-up and everyday commands. `make demo` and `make test` install everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PLUGIN_PYPROJECTS := $(wildcard plugins/*/pyproject.toml)
# dependencies before dependents: pip 23.2 fails on editable extras otherwise (tools/install_order.py)
PLUGIN_DIRS := $(shell $(PYTHON) tools/install_order.py $(PLUGIN_PYPROJECTS))
TEST_PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard tests/plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint clean

$(STAMP): core/pyproject.toml tools/install_order.py $(PLUGIN_PYPROJECTS) $(addsuffix /pyproject.toml,$(TEST_PLUGIN_DIRS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU wheel on disk (any other spec pulls a multi-GB CUDA build)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e 'core[test]' $(foreach d,$(PLUGIN_DIRS),-e '$(d)[test]') $(foreach d,$(TEST_PLUGIN_DIRS),-e '$(d)')
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/sidkit run examples/synthetic-fast.toml --out runs/demo

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(PIP) install -q ruff
	$(VENV)/bin/ruff check core plugins tests benchmarks tools

clean:
	rm -rf $(VENV) runs
