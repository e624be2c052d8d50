# The two commands of the README: `make demo` and `make test`. Each sets up .venv first.
# `make demo` installs only what the demos use; `make test` adds the test tools and torch.
VENV       ?= .venv
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip
DEMO_STAMP := $(VENV)/.deltagrad-demo
TEST_STAMP := $(VENV)/.deltagrad-test
TORCH      := torch==2.13.0
LINTED     := autograd nn tests demos benchmarks

.PHONY: setup setup-demo browser test demo bench lint typecheck clean docs-graph

$(PY):
	@echo "make: creating $(VENV) (python3 -m venv)"
	@python3 -m venv $(VENV)
	@echo "make: upgrading pip in $(VENV)"
	@$(PIP) install -q --upgrade pip

# The package with the runtime extras the demos use: plots, progress bar, a pip renderer.
$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "make: installing deltagrad with the demo extras [plot,progress,viz]" \
	      "(numpy, graphviz, matplotlib, tqdm, graphviz-pure)"
	@$(PIP) install -q -e '.[plot,progress,viz]'
	@touch $@

# Everything else the tests, lint and type checks use, then torch as the gradient oracle.
$(TEST_STAMP): $(DEMO_STAMP) pyproject.toml
	@echo "make: installing the test tools [dev] (pytest, hypothesis, ruff, mypy, micrograd," \
	      "nbclient, ipykernel, hatchling)"
	@$(PIP) install -q -e '.[dev]'
	@echo "make: installing $(TORCH), the tests' oracle (a large download, once)"
	@$(PIP) install -q $(TORCH)
	@touch $@

setup-demo: $(DEMO_STAMP)

setup: $(TEST_STAMP)

lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

typecheck: setup
	$(PY) -m mypy --strict autograd nn

# The browser tests drive Debian's chromium: installed here when root and missing.
browser:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromedriver >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null || echo "make: apt-get install chromium failed"; fi

test: setup browser lint typecheck
	$(PY) -m pytest -q

# `python -m demos demo all` is the installed `deltagrad demo all`: one line before each demo.
demo: setup-demo
	$(PY) -m demos demo all

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Redraw the README picture from the demo (tests/test_demos.py checks docs/graph.dot matches).
docs-graph: setup-demo
	$(PY) -m demos.graph --out out
	cp out/readme_graph.svg docs/graph.svg
	cp out/readme_graph.dot docs/graph.dot
