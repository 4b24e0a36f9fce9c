"""The one sys.path bootstrap of the scripts in tools/bench: each starts with `import repo_path`.

It puts the repository root first on sys.path (firmware/, hal/, boards/ import as on a board) and, on
CPython, hal/cpython (the stand-in for MicroPython's `micropython` module) and tools/ (pumpctl, when
it is not installed). A script's own folder is sys.path[0] on MicroPython and CPython alike: that is
how this module is found. `use("tools/emu")` adds another folder of the repository the same way.
(mpy_heap_boot.py is the one exception: it replaces sys.path with the staged code it measures.)
"""

import sys

HERE = __file__.rpartition("/")[0] or "."
# tools/bench -> the repository (an absolute __file__ on both interpreters; relative paths still work)
ROOT = HERE.rpartition("/")[0].rpartition("/")[0] if HERE.count("/") >= 2 else HERE + "/../.."
ROOT = ROOT or "/"


def use(rel):
    """Put ROOT/rel (or ROOT itself for "") on sys.path, ahead of the standard library."""
    path = ROOT + "/" + rel if rel else ROOT
    if path not in sys.path:
        sys.path.insert(1, path)
    return path


use("")
try:
    import micropython  # noqa: F401  (built into MicroPython)
except ImportError:
    use("hal/cpython")
    use("tools")
