# phasekit: `make demo` (main job), `make test` (test suite), `make lint` (ruff + mypy),
# `make docs` (the documentation site, strict), `make bench` (benchmarks).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.phasekit-installed

.PHONY: demo test test-slow lint docs bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/phasekit run phase-diagram --preset quick

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -q --durations=25

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

# the checks of .ci/run before the tests: lint, format, types
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the documentation site, strict (a warning or a failing tutorial cell fails): docs/_build/html
docs: $(STAMP)
	PYTHON=$(BIN)/python docs/build.sh

# Optional baselines in separate venvs: make bench TORCH_PYTHON=/path/bin/python NT_PYTHON=/path/bin/python
bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py $(if $(TORCH_PYTHON),--torch-python $(TORCH_PYTHON))
	$(BIN)/python benchmarks/phase_sweep.py
	$(BIN)/python benchmarks/hessian_top_eigenvalue.py $(if $(TORCH_PYTHON),--torch-python $(TORCH_PYTHON))
	$(BIN)/python benchmarks/empirical_ntk.py $(if $(NT_PYTHON),--nt-python $(NT_PYTHON))
	$(BIN)/python benchmarks/model_rank.py

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build docs/api/*.rst
