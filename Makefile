# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here, into .venv, from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# setuptools announces every editable install with a warning about folders named
# like the package; it says nothing about this project, so pip's build step hides it.
PIP    := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip

.PHONY: demo test test-fast bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/jaxopt-course lecture

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The quick subset: every module, without the tests marked @pytest.mark.slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PIP) install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
