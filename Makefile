# make demo: set up everything and run the demo. make test: set up everything and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_CACHE_DIR := $(CURDIR)/.cache/uv
DEMO_WORLD := worlds/demo

.PHONY: install demo test lint lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock -e .
	touch $@

install: $(STAMP)

$(DEMO_WORLD)/world.json: $(STAMP) data/scenarios/demo.yaml $(wildcard data/*.py)
	$(BIN)/cxagent generate --scenario demo --out $(DEMO_WORLD)

demo: $(DEMO_WORLD)/world.json
	$(BIN)/cxagent cx --world $(DEMO_WORLD) --last 7
	$(BIN)/cxagent ask "why did CX drop on Jan 4?" --world $(DEMO_WORLD) --plan-out $(DEMO_WORLD)/experiment_plan.md

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python $(BIN)/python -o requirements.lock

clean:
	rm -rf $(VENV) .cache worlds .pytest_cache
