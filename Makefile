# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here, into .venv, from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# setuptools announces every editable install with a warning about folders named
# like the package; it says nothing about this project, so pip's build step hides it.
PIP    := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip

.PHONY: demo test test-fast bench notebooks docs lint assignment install clean

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

# The lecture notebooks (notebooks/NN_*.py, jupytext percent format), each run
# top to bottom on digits in a Jupyter kernel; executed copies in build/notebooks/.
# JAXOPT_COURSE_DATA=cifar10 (with JAXOPT_COURSE_CIFAR10=folder) runs them on CIFAR-10.
notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py --out build/notebooks

# The lecture's report for the site: rerun only when the code that computes it changed
# (the package, the experiments, the dependencies), so a second `make docs` reuses it.
REPORT         := build/report/lecture/report.md
REPORT_SOURCES := $(shell find jaxopt_course experiments -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)

$(REPORT): $(STAMP) pyproject.toml $(REPORT_SOURCES)
	$(BIN)/jaxopt-course lecture --out build/report --progress off
	touch $@

# The documentation site (MkDocs + Material + mkdocstrings), built strictly into build/site/:
# the pages of docs/, the API reference, the notebooks (executed) and the lecture's report
# (build/report/, so its numbers and figures are this code's). It loads nothing from another
# host: MathJax is the npm package pinned in docs/javascripts/, installed by vendor.py (npm ci).
docs: $(STAMP) $(REPORT)
	$(PIP) install --quiet -e '.[test,docs]'
	$(BIN)/python docs/javascripts/vendor.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site
	@echo "the site: build/site/index.html"

# ruff (lint, and the layout checked, never rewritten) over the repo and mypy over the package,
# with the versions of pyproject's lint extra; .pre-commit-config.yaml runs the same as git hooks.
lint: $(STAMP)
	$(PIP) install --quiet -e '.[test,lint]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The teacher's kit (docs/teachers.md): the student's and the teacher's notebooks, the public and
# hidden tests and the Gradescope autograder zip, written into build/assignment/.
assignment: $(STAMP)
	$(BIN)/jaxopt-course assignment build build/assignment

bench: $(STAMP)
	$(PIP) install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
