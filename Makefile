# Two commands on a fresh machine: `make demo` (the main job) and `make test` (every test).
# Both create .venv and install the package first when needed. Also: `make book` (the course as
# a static site in outputs/book/), `make app` (the explorer served by Voila), `make lab`, `make student`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# 2-core CI machine: one BLAS/OpenMP thread per core
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: demo test book app lab student setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m unioncam_lite explain all --out outputs/demo

# unit tests, the browser tests (site and app), then every notebook executed headless by nbval
# (its assert cells must pass). The site test reads outputs/book, so the book is built first;
# book/build.py re-executes only notebooks whose inputs changed (a fresh clone: all of them, once).
test: book
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --durations=15

# the course as a static site: every notebook executed, rendered by Jupyter Book 1 -> outputs/book/index.html
book: $(STAMP)
	$(BIN)/python book/build.py

# the explorer as a web app: Voila on 127.0.0.1 only, code hidden; prints the URL
app: $(STAMP)
	$(BIN)/python app/serve.py

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# exercise copies of the notebooks: solution cells replaced by `raise NotImplementedError`
student: $(STAMP)
	$(BIN)/python -m unioncam_lite.student notebooks student

clean:
	rm -rf outputs student .pytest_cache
