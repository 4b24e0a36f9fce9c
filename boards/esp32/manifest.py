# ruff: noqa: F821  (include is defined by MicroPython's manifest tool)
# Frozen-module manifest for an ESP32 firmware image with the pump built in:
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/boards/esp32/manifest.py
# (the ESP-IDF environment must be set up first).
# Paths are relative to this file. Steps, checks and what to flash: docs/deploy-frozen.md.
# main.py is deliberately not frozen: a frozen main.py would run before /main.py on the flash, so it is
# copied to the filesystem as usual. The package list is boards/manifest_common.py (shared).

include("$(PORT_DIR)/boards/manifest.py")  # the port's standard frozen modules
include("../manifest_common.py", board="esp32")
