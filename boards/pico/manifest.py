# ruff: noqa: F821  (include is defined by MicroPython's manifest tool)
# Frozen-module manifest for a Pico / Pico 2 firmware image with the pump built in:
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/repo/boards/pico/manifest.py
# (BOARD=RPI_PICO2 for a Pico 2, RPI_PICO_W for a Pico W.)
# Paths are relative to this file. Steps, checks and what to flash: docs/deploy-frozen.md.
# main.py is deliberately not frozen: a frozen main.py would run before /main.py on the flash, so it is
# copied to the filesystem as usual. The package list is boards/manifest_common.py (shared).

include("$(PORT_DIR)/boards/manifest.py")  # the port's standard frozen modules
include("../manifest_common.py", board="pico")
