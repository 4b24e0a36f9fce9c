# Micro-dosing pump firmware: host-side entry points.
#   make sim     run the bundled demo scenario on the simulator (firmware on the MicroPython unix port)
#   make test    the whole host test suite (CPython + MicroPython unix port + mpy-cross)
# Both create .venv from the pinned requirements first.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
BOARD   ?= pico
PORT    ?= /dev/ttyACM0
SCENARIO ?= scenarios/demo_90d_baclofen.json

.PHONY: venv sim test lint typecheck bench build deploy clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

sim: $(STAMP)
	$(BIN)/pumpctl run $(SCENARIO)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests_host

lint: $(STAMP)
	$(BIN)/ruff check firmware hal boards tools tests_host

bench: $(STAMP)
	$(BIN)/python tools/bench.py

clean:
	rm -rf build .pytest_cache .ruff_cache

include mk/boards.mk
-include mk/bench.mk
