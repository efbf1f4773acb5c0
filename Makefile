# payjourney: `make demo` runs the main job on the embedded SQLite default, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# durable_rules 2.0.28 calls PyEval_CallObject, which Python 3.13 removed; this maps it at build time
export CPPFLAGS := -DPyEval_CallObject=PyObject_CallObject $(CPPFLAGS)

.PHONY: install demo test check bench clean

$(BIN)/payjourney: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/payjourney

demo: install
	PAYJOURNEY_RULES=rules $(BIN)/payjourney demo

test: install
	$(BIN)/pytest -q

check: install
	$(BIN)/ruff check engine channels tests bench
	$(BIN)/ruff format --check engine channels tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/decide.py

clean:
	rm -rf $(VENV) payjourney.db .pytest_cache .mypy_cache
