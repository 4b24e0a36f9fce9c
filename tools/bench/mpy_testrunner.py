"""A tiny test runner for the MicroPython unix port (no pytest there).

  micropython tools/bench/mpy_testrunner.py DIR [DIR ...] [--files=a.py,b.py ...] [--only=file.py::test_x,... ...]

Imports every test_*.py in each DIR (or only the --files named), calls every top-level function named
test_* (or only the --only ones), and prints one JSON line per test ({"file", "test", "outcome",
"detail", "ms"}) and then 'N passed, N failed'. Exit status 1 if any test failed. The same files run under
pytest on CPython. --files and --only may be repeated: keep each argument under 256 bytes (the 32-bit
unix build aborts on a longer one). tests_host/test_micropython.py runs one file per process, so a
file's heap state never depends on the files before it.
"""

import gc
import io
import json
import os
import sys
import time

import repo_path  # noqa: F401  (the repository on sys.path; on CPython the `micropython` stand-in too)


def run_file(directory, filename, only):
    name = filename[:-3]
    results = []
    try:
        module = __import__(name)
    except Exception as exc:  # noqa: BLE001
        return [(filename, "<import>", "failed", _trace(exc), 0)]
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        if only and (filename + "::" + attr) not in only:
            continue
        fn = getattr(module, attr)
        if not callable(fn):
            continue
        gc.collect()   # each test starts on a clean heap (the unix port's heap is board-sized)
        start = _ms()
        try:
            fn()
            results.append((filename, attr, "passed", "", _ms_since(start)))
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            results.append((filename, attr, "failed", _trace(exc), _ms_since(start)))
    # forget the module (and whatever its globals hold) before the next file: on a board-sized heap a
    # whole directory in one process would otherwise fragment it (make test runs one file per process)
    del module
    sys.modules.pop(name, None)
    gc.collect()
    return results


def _ms():
    """Monotonic ms for a test's duration (time.ticks_ms on MicroPython, where it wraps)."""
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _ms_since(start):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_ms(), start)
    return _ms() - start


def _trace(exc):
    buf = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, buf)
    else:  # CPython, when the runner itself is tried there
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=buf)
    return buf.getvalue()[-3000:]


def main(argv):
    dirs = [a for a in argv if not a.startswith("--")]
    only = set()
    files = set()
    for a in argv:
        if a.startswith("--only="):
            only.update(a[7:].split(","))
        elif a.startswith("--files="):
            files.update(a[8:].split(","))
        elif a.startswith("--"):
            print("mpy_testrunner: unknown option %s" % a)
            return 2
    passed = failed = 0
    for directory in dirs:
        sys.path.insert(0, directory)
        for filename in sorted(os.listdir(directory)):
            if not (filename.startswith("test_") and filename.endswith(".py")):
                continue
            if files and filename not in files:
                continue
            for file_, test, outcome, detail, ms in run_file(directory, filename, only):
                print(json.dumps({"file": file_, "test": test, "outcome": outcome, "detail": detail, "ms": ms}))
                if outcome == "passed":
                    passed += 1
                else:
                    failed += 1
        sys.path.pop(0)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
