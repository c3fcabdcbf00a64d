# Developer entry points. `make test` is the command CI runs (via .ci/run) and the README shows.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv test lint demo drill kafka-fetch kafka-start kafka-stop kafka-status

venv: $(INSTALLED)

# Reinstall when the dependency list changes; the package itself is editable.
$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

# pytest exits 5 when it collected nothing; that is a failure here, never a quiet pass.
test: venv
	@status=0; $(BIN)/pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

kafka-fetch: venv
	$(BIN)/tilik kafka fetch

kafka-start: venv
	$(BIN)/tilik kafka start

kafka-stop: venv
	$(BIN)/tilik kafka stop

drill: venv
	$(BIN)/tilik drill

kafka-status: venv
	@$(BIN)/tilik kafka status

# `tilik demo` runs the whole city when it exists; until then: the local broker and the catalog topics.
demo: venv
	@if $(BIN)/tilik demo --help >/dev/null 2>&1; then \
		$(BIN)/tilik demo --map $(DEMO_ARGS); \
	else \
		bootstrap=$$($(BIN)/tilik kafka start) && echo "kafka at $$bootstrap" && \
		if $(BIN)/tilik topics --help >/dev/null 2>&1; then \
			TILIK_BOOTSTRAP=$$bootstrap $(BIN)/tilik topics apply && \
			TILIK_BOOTSTRAP=$$bootstrap $(BIN)/tilik topics list; \
		fi; \
	fi
