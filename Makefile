# payjourney: `make demo` runs the main job on the embedded SQLite default, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# durable_rules 2.0.28 calls PyEval_CallObject, which Python 3.13 removed; this maps it at build time
export CPPFLAGS := -DPyEval_CallObject=PyObject_CallObject $(CPPFLAGS)

.PHONY: install demo test check bench mutate mutate-core mutate-results clean

$(BIN)/payjourney: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/payjourney

demo: install
	PAYJOURNEY_RULES=rules $(BIN)/payjourney demo

# both cores: the suite is half subprocesses, PostgreSQL and a browser (each worker gets its own
# PostgreSQL database); `make test PYTEST_WORKERS=0` runs it in one process
PYTEST_WORKERS ?= auto
test: install
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

check: install
	$(BIN)/ruff check engine channels tests bench
	$(BIN)/ruff format --check engine channels tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/decide.py

# Mutation testing (docs/testing.md). Slow, so never part of `make test` or .ci/run: one worker,
# niced, results kept in mutants/ so a second run only retries what changed.
#   make mutate                      every module of [tool.mutmut] only_mutate (hours on 2 cores)
#   make mutate-core                 the decision core (decide, timing): run it when they change,
#                                    or nightly; 45-60 minutes on a shared 2-core machine
#   make mutate MUTANTS='engine.messages.iban*'    one module (mutmut names: dotted, globbed)
MUTANTS ?=
MUTATE_CORE := 'engine.decision.decide.*' 'engine.decision.timing.*'
mutate: install
	nice -n 10 $(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/mutmut export-cicd-stats || true
	$(BIN)/mutmut results

mutate-core: install
	nice -n 10 $(BIN)/mutmut run --max-children 1 $(MUTATE_CORE)
	$(BIN)/mutmut results

mutate-results: install
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) payjourney.db payjourney-demo.db demo-simulation simulation .pytest_cache .mypy_cache mutants
