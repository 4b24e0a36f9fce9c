"""The firmware tree the simulator runs, importable on CPython, and the simulator's own tables from it.

pumpctl.REPO_ROOT is the tree: a clone or an editable install, or the copy a wheel carries in
pumpctl/sim_root. `firmware_tree()` appends it to sys.path with hal/cpython (the CPython stand-in for
MicroPython's `micropython` module, which the firmware imports). `sim_bench()` is boards/sim/bench.py,
the one source of the names `sim.fault` takes (FAULTS) and of the mocks' realism ranges
(REALISM_LIMITS): pumpctl keeps no copy of either.
"""

import sys

from pumpctl import REPO_ROOT


def firmware_tree():
    """Make `firmware`, `hal` and `boards` importable (appended: nothing of this process is shadowed)."""
    for extra in (str(REPO_ROOT), str(REPO_ROOT / "hal" / "cpython")):
        if extra not in sys.path:
            sys.path.append(extra)


def sim_bench():
    """The module boards/sim/bench.py (FAULTS, REALISM_LIMITS)."""
    firmware_tree()
    from boards.sim import bench
    return bench
