"""Board-faithful test tiers: where their artifacts are, and what happens when one is missing.

A tier whose artifact (a binary, an image, `node`) is not on this machine is skipped with one clear
reason, except when the environment sets PUMP_REQUIRE_BOARD_TIERS=1 (CI with ../shared/emu beside the
repository): then a missing tier is a failure, so a broken path can never pass as a skip.

    from tiers import missing_tier, mpy32_binary
    if exe is None:
        missing_tier("32-bit MicroPython", "not found at %s (set PUMP_MPY32=path)" % where)

Shared by tests_host/test_micropython.py (the 32-bit MicroPython tier) and tests_host/board/ (the
emulated RP2040 tier).
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_EMU = ROOT.parent / "shared" / "emu"          # ../shared/emu beside the repository
MPY32_NAME = "micropython-1.28.0-unix-i386"


def tiers_required():
    """True when a missing tier must fail the run (PUMP_REQUIRE_BOARD_TIERS=1)."""
    return os.environ.get("PUMP_REQUIRE_BOARD_TIERS", "") == "1"


def missing_tier(tier, reason):
    """Skip the calling test because `tier` cannot run here (`reason` says what is missing and how to
    provide it), or fail it when PUMP_REQUIRE_BOARD_TIERS=1. Never returns."""
    message = "%s tier: %s" % (tier, reason)
    if tiers_required():
        pytest.fail(message + " (PUMP_REQUIRE_BOARD_TIERS=1: a missing tier is a failure)", pytrace=False)
    pytest.skip(message)


def emu_artifact(env_var, default_name):
    """Where a tier's artifact is looked for: the path in $env_var, else ../shared/emu/default_name
    beside the repository (e.g. emu_artifact("PUMP_PICO_UF2", "RPI_PICO-v1.28.0.uf2"))."""
    env = os.environ.get(env_var)
    return Path(env) if env else SHARED_EMU / default_name


def mpy32_path():
    """Where the 32-bit single-float MicroPython unix build is looked for: PUMP_MPY32, else
    ../shared/emu/micropython-1.28.0-unix-i386 beside the repository."""
    return emu_artifact("PUMP_MPY32", MPY32_NAME)


def mpy32_binary():
    """The 32-bit build's path as a string if it is an executable file, else None."""
    path = mpy32_path()
    if path.is_file() and os.access(str(path), os.X_OK):
        return str(path)
    return None
