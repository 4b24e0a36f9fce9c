"""pytest setup: the repository root and the CPython `micropython` shim on sys.path, so the firmware
tests in tests_host/fw import exactly as they do on the MicroPython unix port; tests_host itself, so
every test folder can `from tiers import missing_tier` (tests_host/tiers.py: skip or fail a tier)."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "hal" / "cpython", ROOT / "tests_host" / "fw", ROOT / "tests_host"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# Work units for pytest-xdist (`make test` runs `pytest -n auto`): tests that must run in one worker,
# as (nodeid pattern, group). Every other test is a unit of its own. (xdist_group marks with
# --dist loadgroup would say the same, but pytest 9.2 ignores the group suffix xdist 3.8 puts on the
# node ids, so the groups are made here, from the node ids.)
_GROUPS = (
    # the results of one fw file on one MicroPython come from one interpreter run (test_micropython.py)
    (re.compile(r"test_micropython\.py::(test_on_micropython\w*)\[(test_\w+\.py)"), r"\1:\2"),
    # the emulated board tier shares its booted emulators (tests_host/board)
    (re.compile(r"^(tests_host/board)/"), r"\1"),
    # the fuzz total adds up what the file's earlier tests sent (test_fuzz_counts_reach_100k)
    (re.compile(r"^(tests_host/test_fuzz_protocol\.py)::"), r"\1"),
)


def work_group(nodeid):
    """The xdist work unit of a test: its group, or the test itself."""
    for pattern, group in _GROUPS:
        match = pattern.search(nodeid)
        if match:
            return match.expand(group)
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist load (what -n implies) and loadgroup: whole groups to one worker, the largest first
    (xdist's scope scheduling, with work_group() as the scope)."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_group(nodeid)

    return _GroupScheduling(config, log)
