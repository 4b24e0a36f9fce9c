# ruff: noqa: F821  (include/package/options are defined by MicroPython's manifest tool)
# The pump's frozen modules, shared by every board's manifest (boards/<board>/manifest.py includes it
# with include("../manifest_common.py", board="<board>")). Paths are relative to this file.
# The same list as the .mpy deploy (tools/deploy/build.py sources(board)); tests_host/test_boards.py checks
# that the two agree and that every module the firmware imports on the board is here.
# How to build an image with it: docs/deploy-frozen.md.

options.defaults(board=None)
if options.board is None:
    raise ValueError("include this manifest with board=\"<board>\" (pico, esp32)")

package("firmware", base_path="..")                  # all of it: handlers are loaded on demand
package(
    "hal",
    files=(
        "__init__.py",
        "interfaces.py",
        "mcu/__init__.py",
        "mcu/analog.py",
        "mcu/boot.py",
        "mcu/buzzer.py",
        "mcu/clock.py",
        "mcu/rotation.py",
        "mcu/serial.py",
        "mcu/stepper.py",
        "mcu/storage.py",
        "mcu/watchdog.py",
    ),
    base_path="..",
)
package(
    "boards",
    files=(
        "__init__.py",
        "bench.py",
        "mcu_board.py",
        "start.py",
        options.board + "/__init__.py",
        options.board + "/board.py",
    ),
    base_path="..",
)
