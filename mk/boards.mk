# Board builds, deploy and typecheck. Included by the top Makefile (STAMP, BIN, BOARD, PORT, VENV).
#   make build BOARD=pico|esp32                  cross-compile into build/BOARD/ and print the sizes
#   make deploy BOARD=pico PORT=/dev/ttyACM0     build, then copy build/BOARD/ to the board (mpremote)
#   make typecheck                               basedpyright: hal/mcu + boards vs MicroPython stubs
# `make -n deploy ...` shows the commands; `python tools/deploy/deploy.py BOARD PORT --dry-run` shows mpremote's.

STUBS_VERSION := 1.29.0.post1
STDLIB_STUBS  := micropython-stdlib-stubs==1.29.0.post2
STUBS         := $(VENV)/stubs
STUBS_STAMP   := $(STUBS)/.installed-$(STUBS_VERSION)
PIP_QUIET     := --quiet --disable-pip-version-check

# Stub packages (each with its dependencies, e.g. micropython-stdlib-stubs) go into their own
# --target dirs, never into the venv's site-packages: they would shadow CPython's sys/os/time there.
$(STUBS_STAMP): $(DEV_STAMP)
	rm -rf $(STUBS)/rp2 $(STUBS)/esp32
	$(BIN)/python -m pip install $(PIP_QUIET) --target $(STUBS)/rp2 micropython-rp2-stubs==$(STUBS_VERSION) $(STDLIB_STUBS)
	$(BIN)/python -m pip install $(PIP_QUIET) --target $(STUBS)/esp32 micropython-esp32-stubs==$(STUBS_VERSION) $(STDLIB_STUBS)
	touch $@

typecheck: $(STUBS_STAMP)
	$(BIN)/basedpyright -p typecheck/pyrightconfig.rp2.json
	$(BIN)/basedpyright -p typecheck/pyrightconfig.esp32.json

build: $(STAMP)
	$(BIN)/python tools/deploy/build.py $(BOARD)

deploy: build
	$(BIN)/python tools/deploy/deploy.py $(BOARD) $(PORT)
