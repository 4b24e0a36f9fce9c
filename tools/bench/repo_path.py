"""The one sys.path bootstrap of the scripts in tools/bench: each starts with `import repo_path`.

It puts the repository root first on sys.path (firmware/, hal/, boards/ import as on a board) and, on
CPython, hal/cpython (the stand-in for MicroPython's `micropython` module) and tools/ (pumpctl, when
it is not installed). A script's own folder is sys.path[0] on MicroPython and CPython alike: that is
how this module is found. `use("tools/emu")` adds another folder of the repository the same way.
(mpy_heap_boot.py is the one exception: it replaces sys.path with the staged code it measures.)
`positive_ints()` is the scripts' one check of integer arguments (MicroPython has no argparse).
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


def positive_ints(argv, least, most, usage):
    """The arguments as positive integers (least..most of them), or `usage` on one line and exit 2."""
    try:
        if not least <= len(argv) <= most:
            raise ValueError
        values = [int(a) for a in argv]
        if min(values) <= 0:
            raise ValueError
        return values
    except ValueError:
        print("usage: " + usage)
        raise SystemExit(2)
