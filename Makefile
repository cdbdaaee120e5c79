# Two commands on a fresh machine: `make demo` (the main job) and `make test` (every test).
# Both create .venv and install the package first when needed. Also: `make book` (the course as
# a static site in outputs/book/), `make app` (the explorer served by Voila), `make lab`, `make student`,
# `make gpu-check` and `make gpu-kit` (README "The GPU check").
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# 2-core CI machine: one BLAS/OpenMP thread per core
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: demo test lint book app lab student assignments setup clean gpu-check gpu-kit

setup: $(STAMP)

# The environment: the package (editable) with both extras, at the exact versions of constraints.txt.
# It is (re)installed only when what it is made from changes -- the [project] tables of pyproject.toml
# (dependencies, extras, scripts) or constraints.txt, compared by content (comments ignored), which
# $(STAMP) holds -- never because a file's date changed (an edit of the ruff settings, a checkout).
# `rm $(STAMP)` forces a reinstall.
DEPS_ID := $(shell { sed -n '/^\[project/,/^\[tool\./p' pyproject.toml; cat constraints.txt; } 2>/dev/null \
             | grep -v '^[[:space:]]*\#' | sha256sum | cut -c1-16)
ifneq ($(DEPS_ID),$(shell cat $(STAMP) 2>/dev/null))
.PHONY: $(STAMP)
endif

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -c constraints.txt
	echo $(DEPS_ID) > $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m unioncam_lite explain all --out outputs/demo

# the linter and the type checker (configured in pyproject.toml), then the unit tests, the browser
# tests (site and app), then every notebook executed headless by nbval (its assert cells must pass;
# UNIONCAM_EXERCISES_STRICT=1: an exercise's check cell raises instead of falling back to the library).
# The site test reads outputs/book, so the book is built first; book/build.py re-executes only
# notebooks whose inputs changed (a fresh clone: all of them, once).
test: lint book
	UNIONCAM_EXERCISES_STRICT=1 $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check unioncam_lite tests benchmarks book app/serve.py
	$(BIN)/mypy

# the course as a static site: every notebook executed, rendered by Jupyter Book 1 -> outputs/book/index.html
book: $(STAMP)
	$(BIN)/python book/build.py

# the explorer as a web app: Voila on 127.0.0.1 only, code hidden; prints the URL
app: $(STAMP)
	$(BIN)/python app/serve.py

# the learners' lab, opened on their exercise copies in student/ (made on the first run, never
# overwritten: they hold the learner's work); the reference solutions stay in notebooks/ and, folded,
# on the site. nbgrader's grading tools and JupyterLab's news off (lab/README.md); instructors run
# `jupyter lab` in course/ without it
lab: student
	JUPYTER_CONFIG_PATH="$(CURDIR)/lab$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
	  $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) student/

# exercise copies of the notebooks in student/: each solution region replaced by `raise NotImplementedError`;
# copies already there are kept (the learner's work); OVERWRITE=1 replaces them
student: $(STAMP)
	$(BIN)/python -m unioncam_lite student notebooks student $(if $(OVERWRITE),--overwrite)

# The GPU half, on a machine with CUDA (exit 2 without): the CUDA tests, every notebook through nbval,
# the benchmark (VGG16 fp32/bf16/batch-1 memory, EfficientNet-Lite0) in <= 8 min on one H100 ->
# outputs/gpu-check/report.md. Installs nothing: runs with GPU_CHECK_PYTHON's packages
# (default .venv/bin/python if it exists, else python3), e.g. GPU_CHECK_PYTHON=python3.12 make gpu-check;
# GPU_CHECK_ARGS=--rehearse runs every part on the CPU at a tiny size (tests/test_gpu_check_rehearsal.py)
GPU_CHECK_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_CHECK_ARGS ?=

gpu-check:
	$(GPU_CHECK_PYTHON) benchmarks/gpu_check.py --out outputs/gpu-check $(GPU_CHECK_ARGS)

# The wheels a lent GPU machine (its own torch, Python 3.12, no network) lacks for gpu-check -> .whl/
# (needs a package index; README "The GPU check" gives the device call that carries and installs them)
gpu-kit: $(STAMP)
	$(BIN)/python benchmarks/gpu_kit.py build --dest .whl

# nbgrader course for instructors (README "For instructors"): course/nbgrader_config.py and
# course/source/<notebook>/; optional SEED=<hidden tests' seed>, NEW_SEED=1 for a new term,
# EXCHANGE=<nbgrader exchange folder>. An existing .venv is used as it is (never reinstalled behind the
# instructor's back mid-term): only a missing one is installed; `make setup` updates it.
ENV_READY := $(if $(wildcard $(STAMP)),,$(STAMP))

assignments: $(ENV_READY)
	$(BIN)/python -m unioncam_lite assignments notebooks course $(if $(SEED),--seed $(SEED)) $(if $(NEW_SEED),--new-seed) $(if $(EXCHANGE),--exchange $(EXCHANGE))

clean:
	rm -rf outputs student .pytest_cache
