# ruff: noqa: F821  (include/package/module are defined by MicroPython's manifest tool)
# Frozen-module manifest for a Pico / Pico 2 firmware image with the pump libraries built in.
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/repo/boards/pico/manifest.py
# (BOARD=RPI_PICO2 for a Pico 2, RPI_PICO_W for a Pico W.) Paths are relative to this file.
# main.py is deliberately not frozen: a frozen main.py would run before /main.py on the flash, so it is
# copied to the filesystem as usual (see docs/boards.md). The firmware's mip list is package.json.

include("$(PORT_DIR)/boards/manifest.py")  # the port's standard frozen modules

package("firmware", base_path="../..")
package(
    "hal",
    files=(
        "__init__.py",
        "interfaces.py",
        "mcu/__init__.py",
        "mcu/analog.py",
        "mcu/boot.py",
        "mcu/button.py",
        "mcu/buzzer.py",
        "mcu/clock.py",
        "mcu/led.py",
        "mcu/rotation.py",
        "mcu/serial.py",
        "mcu/stepper.py",
        "mcu/storage.py",
        "mcu/watchdog.py",
    ),
    base_path="../..",
)
package("boards", files=("__init__.py", "bench.py", "start.py", "pico/__init__.py", "pico/board.py"),
        base_path="../..")
