"""The emulated-board tier: the real deploy on the standard RPI_PICO MicroPython image, on rp2040js
(tools/emu/run_pico.mjs, driven through tools/emu/pico.py).

Without node, the npm package or the two artifacts every test here skips with one reason, or fails
with it under PUMP_REQUIRE_BOARD_TIERS=1 (tests_host/tiers.py). The test modules mark themselves
xdist_group("board"): under `pytest -n N --dist loadgroup` they run in one worker, in file order,
sharing booted emulators.
"""

import os
import sys

import pytest
from tiers import missing_tier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMU = os.path.join(ROOT, "tools", "emu")
if EMU not in sys.path:
    sys.path.insert(0, EMU)

import mkfs  # noqa: E402
import pico  # noqa: E402

TIER = "emulated Pico"


@pytest.fixture(scope="session")
def emu_ready():
    reason = pico.unavailable()
    if reason:
        missing_tier(TIER, reason)
    try:
        import littlefs  # noqa: F401
    except ImportError:
        missing_tier(TIER, "littlefs-python is not installed (requirements-dev.txt)")
    return True


@pytest.fixture(scope="session")
def mpy_tree(emu_ready, tmp_path_factory):
    """The files of `make build BOARD=pico`: lib/**/*.mpy + main.py."""
    return mkfs.deploy_tree("mpy", str(tmp_path_factory.mktemp("deploy_mpy") / "tree"))


@pytest.fixture(scope="session")
def mip_tree(emu_ready, tmp_path_factory):
    """The files of `mpremote mip install package.json` (plain .py under /lib) + main.py."""
    return mkfs.deploy_tree("mip", str(tmp_path_factory.mktemp("deploy_mip") / "tree"))
