# The emulated-board test tier (tests_host/board, README "Test tiers"). Included by the top Makefile
# (VENV, STAMP). The npm package rp2040js, pinned in tools/emu/package.json and package-lock.json, is
# installed with `npm ci` into .venv/node (the repository root's package.json is the mip manifest, not
# npm's). `make test` installs it when node and npm are on PATH; without them the tier skips.
#   make emu      install (or refresh) it
#   make emu-run  the .mpy deploy on the emulated Pico, serial on stdin/stdout (tools/emu/run_pico.mjs)

NODE      ?= node
NPM       ?= npm
EMU_DIR   := $(VENV)/node
EMU_STAMP := $(EMU_DIR)/.installed-rp2040js
EMU_SRC   := tools/emu/package.json tools/emu/package-lock.json
HAVE_NODE := $(and $(shell command -v $(NODE) 2>/dev/null),$(shell command -v $(NPM) 2>/dev/null))

.PHONY: emu emu-run

# A failed install (no network) does not stop `make test`: the tier then skips with its reason, or
# fails under PUMP_REQUIRE_BOARD_TIERS=1 (.ci/run).
$(EMU_STAMP): $(EMU_SRC) | $(STAMP)
	mkdir -p $(EMU_DIR)
	cp $(EMU_SRC) $(EMU_DIR)/
	if cd $(EMU_DIR) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000; then \
	  touch $(CURDIR)/$@; \
	else \
	  echo "emu: npm ci failed: the emulated-board tests will skip (make emu retries)"; \
	fi

emu: $(EMU_STAMP)

emu-run: $(EMU_STAMP)
	$(BIN)/python tools/emu/mkfs.py mpy build/emu/flash.img
	$(NODE) tools/emu/run_pico.mjs --fs build/emu/flash.img --save-fs build/emu/flash.img --adc 0=2482 \
	  --rotor 2:16 --pressure 1=372:496:50

test: $(if $(HAVE_NODE),$(EMU_STAMP))
