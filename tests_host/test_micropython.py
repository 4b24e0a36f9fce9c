"""The firmware tests in tests_host/fw, run again on the MicroPython unix port.

The same files run under pytest on CPython (collected directly); here tools/mpytest.py runs them under
`micropython` once per session and every MicroPython result becomes its own pytest test, so a failure
on either interpreter fails the run and the output lists both.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
from pumpctl.link import micropython_binary

ROOT = Path(__file__).resolve().parents[1]
FW_TESTS = ROOT / "tests_host" / "fw"


def _discover():
    names = []
    for path in sorted(FW_TESTS.glob("test_*.py")):
        for match in re.finditer(r"^def (test_\w+)\(", path.read_text(), re.M):
            names.append("%s::%s" % (path.name, match.group(1)))
    return names


@pytest.fixture(scope="session")
def upy_results():
    proc = subprocess.run([micropython_binary(), str(ROOT / "tools" / "mpytest.py"), str(FW_TESTS)],
                          capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            results["%s::%s" % (rec["file"], rec["test"])] = rec
    if not results:
        pytest.fail("MicroPython runner produced no results (exit %d):\n%s\n%s"
                    % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return results


@pytest.mark.parametrize("test_id", _discover())
def test_on_micropython(upy_results, test_id):
    rec = upy_results.get(test_id)
    assert rec is not None, "%s did not run on MicroPython (import failure?): %r" % (
        test_id, [r for r in upy_results.values() if r["test"] == "<import>"])
    assert rec["outcome"] == "passed", "failed on MicroPython:\n" + rec["detail"]


def test_no_import_failures_on_micropython(upy_results):
    broken = [r for r in upy_results.values() if r["test"] == "<import>"]
    assert not broken, broken
