# Two commands on a fresh machine: `make demo` (the main job) and `make test` (every test).
# Both create .venv and install the package first when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# 2-core CI machine: one BLAS/OpenMP thread per core
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: demo test lab student setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m unioncam_lite explain all --out outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf outputs student .pytest_cache
