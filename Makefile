# The two commands of the README: `make demo` and `make test`. Each sets up .venv first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.deltagrad-installed
TORCH  := torch==2.13.0
LINTED := autograd nn tests demos benchmarks

.PHONY: setup test demo bench lint typecheck clean docs-graph

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q $(TORCH)
	@touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

typecheck: setup
	$(PY) -m mypy --strict autograd nn

test: setup lint typecheck
	$(PY) -m pytest -q

demo: setup
	$(PY) -m demos.neuron
	$(PY) -m demos.weight_sums
	$(PY) -m demos.moons
	$(PY) -m demos.graph
	$(PY) -m demos.newton

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Redraw the README picture from the demo (tests/test_demos.py checks docs/graph.dot matches).
docs-graph: setup
	$(PY) -m demos.graph --out out
	cp out/readme_graph.svg docs/graph.svg
	cp out/readme_graph.dot docs/graph.dot
