"""RAM budget guard: days of therapy on the MicroPython unix port under a fixed -X heapsize.

The budget (the issue's): 32 KB of heap for the firmware's data, code in flash. The heap run
(tools/bench/cpython_heap_run.py) puts the code in a ROMFS image mounted from memory outside the GC
heap, so bytecode runs in place; what the code still holds in the heap (module dicts, function and
class objects, qstr pool, the raw-code records of a ROMFS import) is measured first, by the same run
under a 2 MB heap weighed at its end with the pump dropped (the command modules load on demand during
a run: their code is code, not data), and the run gets

    heapsize = that code heap + 2 x 32 KB (the budget, twice over: a guard against gross breaches)

Only gross breaches fail: a MemoryError, a run that does not complete, or a data peak (live heap
after gc.collect() minus the code heap) above twice the budget. The figures against the budget
itself, and the smallest heapsize that completes, come from `python tools/bench/cpython_heap_run.py
--find-min` (numbers of the 64-bit unix port: see the module docstring there).
"""

import ast
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
    """Live heap of the code once the run has loaded all it needs: the same run under a 2 MB heap,
    weighed at its end with the pump dropped. Not at import: the command modules load on demand
    during the run (firmware/protocol.py), and the names they intern can double the qstr pool (14 KB
    on this port, for good) whichever module crosses the line; neither is the firmware's data."""
    rep = staged.run(2 * 1024 * 1024, DAYS, "rom", timeout=120)
    assert rep["ok"], "the run failed under 2 MB: %s\n%s" % (rep.get("error"), rep.get("stderr"))
    return rep["stage_heap"]["end, pump dropped"]


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
    data_peak = rep["peak_live"] - code_heap
    assert data_peak <= 2 * BUDGET, "data heap peaked at %d bytes (> 2 x %d)" % (data_peak, BUDGET)


def test_flash_contents_are_in_files_not_in_the_heap(staged):
    rep = staged.run(2 * 1024 * 1024, 1, "rom")
    assert rep["ok"], _summary(rep)
    assert rep["flash_files"] > 0 and rep["flash_writes"] > 0


# --- the emulated Pico's rows for `make bench` (tools/emu/heap.py): present and named, figures not judged


def _pico_heap():
    sys.path.insert(0, str(ROOT / "tools" / "emu"))
    try:
        import heap
    finally:
        sys.path.pop(0)
    return heap


def test_pico_heap_rows_name_every_figure():
    heap = _pico_heap()
    mods = [["firmware.m%02d" % i, 5000 - 100 * i, 6000] for i in range(14)] + [["firmware.broken", None, None]]
    m = {"boot": {"alloc": 70 * 1024, "free": 170 * 1024},
         "peak": {"alloc": 90 * 1024, "free": 150 * 1024, "passes": 7},
         "boot_full": {"alloc": 71 * 1024, "free": 169 * 1024},
         "peak_full": {"alloc": 80 * 1024, "free": 160 * 1024, "passes": 9}, "modules": mods,
         "resident": ["firmware", "firmware.m01", "firmware.m03"]}
    rows = heap.bench_rows(m)
    labels = [r[0] for r in rows]
    assert all(len(r) == 3 for r in rows)
    assert labels[0].startswith("heap in use after boot") and rows[0][1].endswith(": met")
    assert rows[0][2] == "<= 72.0 KB"
    assert labels[1].startswith("heap peak of a therapy run") and "7 wake-ups" in labels[1]
    assert rows[1][1].endswith("NOT met") and rows[1][2] == "<= 88.0 KB"
    assert "full event log (200 records)" in labels[2] and rows[2][2] == "<= 72.0 KB"
    assert "full event log" in labels[3] and "9 wake-ups" in labels[3] and rows[3][2] == "<= 88.0 KB"
    assert rows[3][1].endswith(": met")
    m["peak_full"]["refused"] = ["log refused: E_INTERNAL MemoryError"]   # a refused command fails the row
    assert heap.bench_rows(m)[3][1].endswith("NOT met; refused: log refused: E_INTERNAL MemoryError")
    assert "15 modules" in labels[4] and rows[4][1] == "%.1f KB" % (sum(5000 - 100 * i for i in range(14)) / 1024)
    assert "2 modules" in labels[5] and rows[5][1] == "%.1f KB" % ((4900 + 4700) / 1024)
    assert labels[6] == "largest module: firmware.m00" and rows[6][1] == "5000 B"
    assert [r[0].split(": ")[1] for r in rows[6:]] == ["firmware.m%02d" % i for i in range(heap.TOP_MODULES)]


def test_pico_heap_floor_rows_judge_the_floor_against_each_budget():
    heap = _pico_heap()
    mods = [["firmware.m%02d" % i, 1000, 2000] for i in range(12)]
    m = {"boot": {"alloc": 90 * 1024, "free": 150 * 1024}, "peak": {"alloc": 110 * 1024, "free": 130 * 1024,
         "passes": 3}, "boot_full": {"alloc": 91 * 1024, "free": 149 * 1024},
         "peak_full": {"alloc": 111 * 1024, "free": 129 * 1024, "passes": 3}, "modules": mods, "resident": [],
         "floor": {"before": 80 * 1024, "alloc": 69 * 1024, "evicted": ["boards.bench", "firmware.auth"],
                   "signed_code": 20 * 1024, "signed_modules": ["firmware.auth", "firmware.protocol"]}}
    rows = heap.bench_rows(m)
    floor, signed = rows[6], rows[7]
    assert floor[0].startswith("floor after boot") and "(bench, auth; 80.0 KB before)" in floor[0]
    assert floor[1] == "69.0 KB: below the budget" and floor[2] == "<= 72.0 KB"
    assert "(auth, protocol)" in signed[0]
    assert signed[1] == "89.0 KB: ABOVE the budget: not reachable with this code in RAM" and signed[2] == "<= 88.0 KB"
    assert rows[8][0] == "largest module: firmware.m00"
    m["floor"]["alloc"] = 73 * 1024
    assert heap.bench_rows(m)[6][1] == "73.0 KB: ABOVE the budget: not reachable with this code in RAM"


def test_floor_run_keeps_the_step_path_and_takes_out_the_command_layer(tmp_path):
    """The floor run takes every module but the step path out of RAM: the step path's modules are the
    deploy's, none is loaded on demand or taken out, and none imports (at its top level) a module
    taken out (else taking it out of sys.modules would not free its code)."""
    heap = _pico_heap()
    sys.path.insert(0, str(ROOT))
    try:
        from firmware import lazy
    finally:
        sys.path.pop(0)
    tree = heap.mkfs.deploy_tree("mpy", str(tmp_path / "tree"))
    order = heap.module_order(tree)
    evict = set(heap.floor_evict(order))
    assert set(heap.FLOOR_MODULES) <= set(order) and not set(heap.FLOOR_MODULES) & evict
    assert {"firmware.protocol", "firmware.auth", "boards.bench"} <= evict
    assert {"firmware." + n for n in lazy.ON_DEMAND} <= evict
    assert "firmware.app" not in evict and "hal.mcu.stepper" not in evict
    for name in heap.FLOOR_MODULES:
        path = ROOT.joinpath(*name.split("."))
        src = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
        for node in ast.parse(src.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {node.module + "." + a.name for a in node.names}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            assert not names & evict, (name, names & evict)


def test_pico_heap_rows_say_why_when_the_emulator_is_missing(monkeypatch):
    heap = _pico_heap()
    monkeypatch.setattr(heap.pico, "unavailable", lambda: "node is not on PATH")
    assert heap.bench_rows() == [("heap on the emulated Pico", "not measured: node is not on PATH", "-")]


def test_module_order_imports_before_importers(tmp_path):
    heap = _pico_heap()
    tree = heap.mkfs.deploy_tree("mpy", str(tmp_path / "tree"))
    order = heap.module_order(tree)
    on_board = sorted(str(p.relative_to(tmp_path / "tree" / "lib"))[:-4].replace("/", ".").replace(".__init__", "")
                      for p in (tmp_path / "tree" / "lib").rglob("*.mpy"))
    assert sorted(order) == on_board
    at = {name: i for i, name in enumerate(order)}
    for first, then in (("firmware", "firmware.app"), ("firmware.eventlog", "firmware.app"),
                        ("firmware.record", "firmware.logstore"), ("firmware.errors", "firmware.protocol"),
                        ("hal.interfaces", "boards.mcu_board"), ("boards", "boards.pico.board")):
        assert at[first] < at[then], (first, then)


def test_full_log_slots_fill_every_slot_with_the_newest_records():
    import json
    heap = _pico_heap()
    slots = heap.full_log_slots(records=230)
    assert sorted(slots) == ["ev%03d" % i for i in range(200)]
    seqs = []
    for name, data in slots.items():
        seq, _t_s, kind, _data = json.loads(data[9:-4])      # record.py: 9 bytes of header, 4 of CRC
        assert name == "ev%03d" % (seq % 200) and isinstance(kind, str)
        seqs.append(seq)
    newest = max(seqs)
    assert newest >= 229 and sorted(seqs) == list(range(newest - 199, newest + 1))
