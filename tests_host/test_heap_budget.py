"""RAM budget guard: days of therapy on the MicroPython unix port under a fixed -X heapsize.

The budget (the issue's): 32 KB of heap for the firmware's data, code in flash. The heap run
(tools/bench/cpython_heap_run.py) puts the code in a ROMFS image mounted from memory outside the GC
heap, so bytecode runs in place; what the imported code still holds in the heap (module dicts,
function and class objects, qstr pool, the raw-code records of a ROMFS import) is measured first and
the run gets

    heapsize = that code heap + 2 x 32 KB (the budget, twice over: a guard against gross breaches)

Only gross breaches fail: a MemoryError, a run that does not complete, or a data peak (live heap
after gc.collect() minus the code heap) above twice the budget. The figures against the budget
itself, and the smallest heapsize that completes, come from `python tools/bench/cpython_heap_run.py
--find-min` (numbers of the 64-bit unix port: see the module docstring there).
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "bench"))

import cpython_heap_run as heap_run  # noqa: E402

BUDGET = heap_run.BUDGET
DAYS = 3


@pytest.fixture(scope="module")
def staged():
    with heap_run.Staged() as staged:
        yield staged


@pytest.fixture(scope="module")
def code_heap(staged):
    """Live heap once the code is imported from the ROMFS image (2 MB heap, no therapy)."""
    rep = staged.run(2 * 1024 * 1024, days=0, mode="rom")
    assert rep["ok"], "import and boot failed: %s\n%s" % (rep.get("error"), rep.get("stderr"))
    return rep["stage_heap"]["code imported"]


def _summary(rep):
    keys = ("ok", "error", "t_s", "heapsize", "peak_live", "peak_live_stage", "stage_heap")
    return {k: rep.get(k) for k in keys}


def test_days_of_therapy_within_twice_the_budget(staged, code_heap):
    heapsize = code_heap + 2 * BUDGET
    rep = staged.run(heapsize, DAYS, "rom", sample_every=1, timeout=120)
    assert not rep["memory_error"], "MemoryError under heapsize=%d (code %d + 2 x %d): %r" % (
        heapsize, code_heap, BUDGET, _summary(rep))
    assert rep["ok"], "the run failed: %r\n%s" % (_summary(rep), rep.get("stderr"))
    assert rep["t_s"] == DAYS * 86400
    assert rep["resets"] == 1 and rep["steps"] > 0 and rep["passes"] > 0
    data_peak = rep["peak_live"] - rep["stage_heap"]["code imported"]
    assert data_peak <= 2 * BUDGET, "data heap peaked at %d bytes (> 2 x %d)" % (data_peak, BUDGET)


def test_flash_contents_are_in_files_not_in_the_heap(staged):
    rep = staged.run(2 * 1024 * 1024, 1, "rom")
    assert rep["ok"], _summary(rep)
    assert rep["flash_files"] > 0 and rep["flash_writes"] > 0
