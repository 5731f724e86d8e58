# make demo: set up everything and run the demo. make test: set up everything and run the tests.
# make eval: run the seeded eval suite (evals/scenarios) and print its table.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_CACHE_DIR := $(CURDIR)/.cache/uv
DEMO_WORLD := worlds/demo
# The browser tests (tests/app) drive the Chromium at this path.
CHROMIUM := /usr/bin/chromium

.PHONY: install chromium java demo test eval bench-peers lint lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as here) every command
	# would otherwise recompile the whole stack on import (7 s instead of 3 s for the agent).
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -e .
	touch $@

install: $(STAMP)

# The browser tests drive Debian's Chromium (`playwright install` cannot download browsers here):
# install it when missing, as root or through password-less sudo; never fail the build, the
# browser tests skip with the reason instead.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	else echo "chromium: $(CHROMIUM) is missing and this user cannot install it (not root, no sudo); the browser tests will be skipped"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "chromium: no apt-get here; install Chromium at $(CHROMIUM) to run the browser tests"; exit 0; fi; \
	echo "chromium: installing Debian's chromium for the browser tests (about 40 s)"; \
	( $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  || ( $$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ) \
	) >/dev/null 2>&1 || echo "chromium: installation failed; the browser tests will be skipped"

# The Spark tests (tests/data/test_spark_engine.py) need Java 17+: install Debian's OpenJDK when
# no `java` is found, as root or through password-less sudo; never fail the build, the Spark
# tests skip with the reason instead.
java:
	@if command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	else echo "java: no java and this user cannot install it (not root, no sudo); the Spark tests will be skipped"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "java: no apt-get here; install Java 17+ to run the Spark tests"; exit 0; fi; \
	echo "java: installing Debian's openjdk-17-jre-headless for the Spark tests"; \
	( $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless \
	  || ( $$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless ) \
	) >/dev/null 2>&1 || echo "java: installation failed; the Spark tests will be skipped"

$(DEMO_WORLD)/world.json: $(STAMP) data/scenarios/demo.yaml $(shell find data -name "*.py")
	$(BIN)/cxagent generate --scenario demo --out $(DEMO_WORLD)

demo: $(DEMO_WORLD)/world.json
	$(BIN)/cxagent cx --world $(DEMO_WORLD) --last 7
	$(BIN)/cxagent ask "why did CX drop on Jan 4?" --world $(DEMO_WORLD) --plan-out $(DEMO_WORLD)/experiment_plan.md

test: $(STAMP) chromium java
	$(BIN)/pytest -q --durations=20 -n 2 --dist loadfile

eval: $(STAMP)
	$(BIN)/cxagent eval

# make bench-peers: cx-agent beside open detection and root-cause tools on the eval suite's and
# 50 random worlds (benchmarks/peers; not part of make test). Installs the `peers` extra.
bench-peers: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[peers]'
	$(BIN)/python -m benchmarks.peers.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python $(BIN)/python -o requirements.lock

clean:
	rm -rf $(VENV) .cache worlds .pytest_cache
