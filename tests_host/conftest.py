"""pytest setup: the repository root and the CPython `micropython` shim on sys.path, so the firmware
tests in tests_host/fw import exactly as they do on the MicroPython unix port."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "hal" / "cpython", ROOT / "tests_host" / "fw"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
