"""Heap of the code-in-flash production path on the 32-bit single-float MicroPython build.

tools/bench/cpython_heap_run.py runs days of therapy with the code in a ROMFS image (executed in place,
as frozen code on a board) and layout "board" (every module loaded at boot and kept, as
boards/start.py does for frozen code; replies streamed out of the heap). On the 32-bit build objects
have the board's sizes; `make bench` prints its figures against issue 15's budgets (flash_rows()).

Only gross breaches fail here (twice the budgets): the run must complete in a heap of 2 x 88 KB,
simulator and harness included. That ROMFS keeps the code out of the heap is checked against the
same boot with the .mpy files loaded into the heap. The rows of `make bench` are checked with a fake
result. A missing 32-bit build skips the runs (fails them under PUMP_REQUIRE_BOARD_TIERS=1), as the
other 32-bit tier does (tests_host/tiers.py).
"""

import ast
import sys
from pathlib import Path

import pytest
from tiers import missing_tier, mpy32_binary, mpy32_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "bench"))

import cpython_heap_run as heap_run  # noqa: E402

BOOT_BUDGET = 72 * 1024
PEAK_BUDGET = 88 * 1024
DAYS = 2


def _exe():
    exe = mpy32_binary()
    if exe is None:
        missing_tier("32-bit MicroPython", "%s not found (set PUMP_MPY32=path to a 32-bit unix build; "
                     "recipe in docs/test-tiers.md)" % mpy32_path())
    return exe


def _summary(rep):
    keys = ("ok", "error", "t_s", "heapsize", "peak_live", "peak_live_stage", "stage_heap", "interp")
    return {k: rep.get(k) for k in keys}


def test_budgets_are_the_issues():
    assert heap_run.BOOT_BUDGET == BOOT_BUDGET and heap_run.PEAK_BUDGET == PEAK_BUDGET


def test_days_of_therapy_with_code_in_flash_within_twice_the_budget():
    exe = _exe()
    with heap_run.Staged(interp=exe) as staged:
        rep = staged.run(2 * PEAK_BUDGET, DAYS, "rom", sample_every=1, layout="board", timeout=120)
    assert rep["interp"] == exe
    assert not rep["memory_error"], "MemoryError under heapsize=%d: %r" % (2 * PEAK_BUDGET, _summary(rep))
    assert rep["ok"], "the run failed: %r\n%s" % (_summary(rep), rep.get("stderr"))
    assert rep["t_s"] == DAYS * 86400 and rep["layout"] == "board"
    assert rep["resets"] == 1 and rep["steps"] > 0 and rep["passes"] > 0
    # the board layout loaded every on-demand command module at boot, as boards/start.py does for frozen code
    assert {"firmware.cmd_log", "firmware.cmd_keys", "firmware.forecast", "hal.mcu.serial"} <= set(rep["modules"])
    heap = rep["stage_heap"]
    sim_code = heap["code imported"] - heap["board code imported"]
    assert sim_code > 0
    assert heap["booted (fresh pump)"] - sim_code <= 2 * BOOT_BUDGET, _summary(rep)
    assert rep["peak_live"] - sim_code <= 2 * PEAK_BUDGET, _summary(rep)
    assert rep["qstr"]["end"]["names"] >= rep["qstr"]["board code imported"]["names"] > 0


def test_romfs_keeps_the_code_out_of_the_heap():
    """The same import and boot (0 days) with the .mpy files loaded into the heap holds most of their
    bytes more: with ROMFS the bytecode (and the names' text) stays in the image."""
    exe = _exe()
    with heap_run.Staged(interp=exe) as staged:
        rom = staged.run(2 * heap_run.HEAP32, 0, "rom", layout="board", timeout=60)
        mpy = staged.run(2 * heap_run.HEAP32, 0, "mpy", layout="board", timeout=60)
    assert rom["ok"] and mpy["ok"], (_summary(rom), _summary(mpy))
    assert rom["modules"] == mpy["modules"]
    code_bytes = mpy["imported_mpy_bytes"]
    kept_out = mpy["stage_heap"]["booted (fresh pump)"] - rom["stage_heap"]["booted (fresh pump)"]
    assert code_bytes > 40 * 1024
    assert kept_out >= code_bytes // 2, "ROMFS kept %d of %d bytes of .mpy out of the heap" % (kept_out, code_bytes)


def test_board_modules_are_the_manifests_that_import_without_machine():
    """mpy_heap_scenario.BOARD_MODULES: every module boards/manifest_common.py freezes besides firmware/
    and hal.interfaces, but boards.mcu_board and the board's own package (they import `machine`)."""
    tree = ast.parse((ROOT / "tools" / "bench" / "mpy_heap_scenario.py").read_text())
    listed = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BOARD_MODULES")
    expected = {"hal.mcu." + p.stem for p in (ROOT / "hal" / "mcu").glob("*.py") if p.stem != "__init__"}
    expected |= {"boards.bench", "boards.start"}
    assert set(listed) == expected
    manifest = (ROOT / "boards" / "manifest_common.py").read_text()
    for name in listed:
        assert '"%s.py"' % name.split(".", 1)[1].replace(".", "/") in manifest, name


# --- the rows of `make bench` (flash_rows), from a fake result


def _fake(boot=60 * 1024, peak=70 * 1024, sim_code=18 * 1024):
    qstr = {"runner imported": {"pools": 3, "names": 100, "text_bytes": 1000, "total_bytes": 2000},
            "board code imported": {"pools": 6, "names": 1100, "text_bytes": 12000, "total_bytes": 21000}}
    board_code = 50 * 1024
    stage = {"runner imported": 6 * 1024, "board code imported": board_code,
             "sim board imported": board_code + sim_code - 1024, "code imported": board_code + sim_code,
             "booted (fresh pump)": boot + sim_code}
    rep = {"ok": True, "days": 30, "stage_heap": stage, "qstr": qstr, "peak_live": peak + sim_code,
           "peak_live_stage": "log", "pass_peak": 100 * 1024 + sim_code, "pass_peak_stage": "demand",
           "pump_data": 7 * 1024, "board_only_mpy_bytes": 2300}
    mpy_stage = dict(stage, **{"board code imported": board_code + 40 * 1024,
                               "code imported": board_code + 40 * 1024 + 30 * 1024,
                               "booted (fresh pump)": boot + 40 * 1024 + 30 * 1024})
    mpy = {"ok": True, "days": 0, "stage_heap": mpy_stage, "imported_mpy_bytes": 90 * 1024}
    return rep, mpy


def test_flash_rows_judge_the_pump_without_the_simulators_code():
    rep, mpy = _fake()
    rows = heap_run.flash_rows(rep, mpy)
    assert all(len(r) == 3 for r in rows)
    boot, peak = rows[0], rows[1]
    assert boot[0] == "heap in use after boot (fresh pump), 32-bit build, code in flash (ROMFS)"
    assert boot[1] == "60.0 KB: met" and boot[2] == "<= 72.0 KB"
    assert peak[0] == "peak live heap, 30 days of therapy (at 'log'), 32-bit build, code in flash (ROMFS)"
    assert peak[1] == "70.0 KB: met" and peak[2] == "<= 88.0 KB"
    by_label = {r[0].strip(): r[1] for r in rows[2:]}
    assert all(r[2] == "-" for r in rows[2:])
    assert by_label["left out above: the simulator's code objects (boards.sim, hal.mock, hal.contracts)"] == "18.0 KB"
    assert by_label["as measured, with them: after boot / peak live"] == "78.0 KB / 88.0 KB"
    assert by_label["runtime and the measuring harness (bootstrap, scenario)"] == "6.0 KB"
    assert by_label["the pump's code objects (modules, functions, classes, code records: firmware, hal.mcu, boards)"] \
        == "44.0 KB"
    # the names' tables: (21000 - 12000) - (2000 - 1000) bytes, 1000 names more
    assert by_label["of which the interned names' tables (1000 names; in flash when frozen)"] == "7.8 KB"
    assert by_label["not in the run (they need `machine`): boards.mcu_board, boards.pico.board"] == "2.2 KB of .mpy"
    assert by_label["peak of a pass, uncollected (the emulated Pico's measure; at 'demand')"] == "100.0 KB"
    # the .mpy boot: 60 KB + 40 KB of the pump's bytecode, its own sim code (30 KB) left out
    assert by_label[".mpy files in the heap instead (same build, all loaded): after boot"] == "100.0 KB"
    # kept out: the pump's 40 KB and the simulator's 30 - 18 KB (both boots whole)
    assert by_label["code kept out of the heap by ROMFS (the imported modules: 90.0 KB of .mpy)"] == "52.0 KB"


def test_flash_rows_say_not_met_above_a_budget():
    rep, _mpy = _fake(boot=73 * 1024, peak=88 * 1024 + 16)
    rows = heap_run.flash_rows(rep)
    assert rows[0][1] == "73.0 KB: NOT met" and rows[1][1] == "88.0 KB: NOT met"
    rep, _mpy = _fake(boot=72 * 1024, peak=88 * 1024)
    rows = heap_run.flash_rows(rep)
    assert rows[0][1] == "72.0 KB: met" and rows[1][1] == "88.0 KB: met"
    assert not any(r[0].strip().startswith(".mpy files") for r in rows)     # no .mpy run given


def test_flash_rows_of_a_failed_run_say_where_it_stopped():
    rep = {"ok": False, "days": 30, "error": "MemoryError", "t_s": 86400 * 3,
           "stage_heap": {"runner imported": 1, "board code imported": 2}}
    assert heap_run.flash_rows(rep) == [("heap of a 30-day therapy run, 32-bit build, code in flash (ROMFS)",
                                         "MemoryError after 'board code imported', t=3.0 d", "completes")]


def test_flash_rows_say_why_when_the_32_bit_build_is_missing(monkeypatch):
    monkeypatch.setattr(heap_run, "mpy32_binary", lambda: None)
    monkeypatch.setenv("PUMP_MPY32", "/nowhere/micropython32")
    assert heap_run.bench_rows_flash32(1) == [
        ("heap, code in flash (ROMFS), 32-bit build", "not measured: /nowhere/micropython32 not found "
         "(set PUMP_MPY32=path)", "-")]


def test_interpreter_is_a_parameter(monkeypatch, tmp_path):
    monkeypatch.setenv("PUMP_MPY32", str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="PUMP_MPY32"):
        heap_run.interpreter("mpy32")
    with pytest.raises(RuntimeError, match="no MicroPython binary"):
        heap_run.interpreter(str(tmp_path / "missing"))
    fake = tmp_path / "mpy"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PUMP_MPY32", str(fake))
    assert heap_run.interpreter("mpy32") == str(fake) == heap_run.interpreter(str(fake))
