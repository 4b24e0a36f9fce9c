"""RAM budget: the firmware runs days of therapy on the MicroPython unix port under `-X heapsize=N`.

    python tools/bench/cpython_heap_run.py                    30 days under heapsize=32K, code in ROMFS; JSON
    python tools/bench/cpython_heap_run.py --heapsize 256K    the same with room: the peak live heap, by stage
    python tools/bench/cpython_heap_run.py --find-min         also the smallest heapsize (1 KB steps) that completes
    python tools/bench/cpython_heap_run.py --mode mpy         the code loaded into the heap instead

On a board the code is frozen or in a ROMFS partition (executed in place from flash) and the heap
holds only data; on the unix port .py and .mpy files are loaded into the heap. So the modules the
run needs (firmware, hal.interfaces, hal.mock, hal.mcu.storage, boards.sim) are compiled with
mpy-cross into a ROMFS image (`mpremote romfs build`), which tools/bench/mpy_heap_boot.py mounts with
vfs.VfsRom from memory outside the GC heap: bytecode then runs in place and the heap holds data
only, as on a board (mode "rom"; mode "mpy" loads the same .mpy files into the heap). The flash
contents go to host files through the board's own storage driver (hal.mcu.storage.FlashStorage in a
temporary directory), not to the sim's in-heap MockFlash.

Figures: gc.mem_alloc() after gc.collect() (the live heap) at each stage and after every sampled
main-loop pass, and the smallest -X heapsize that completes (the real requirement, fragmentation and
transient garbage included). micropython.mem_peak() is reported but is NOT a heap peak on this port:
it adds every m_malloc and subtracts only explicit frees, never what the GC reclaims, so over a run
it grows without bound (megabytes under a 32 KB heap).

The unix port is 64-bit: objects (dicts, lists, instances, function objects, qstr pool entries) take
up to twice the bytes they take on the 32-bit boards (RP2040, ESP32, ESP8266), so these figures are
an upper bound for a board (the 32-bit figures: the emulated Pico, tools/emu/heap.py).

`bench_rows()` gives the (quantity, value, budget) rows of tools/bench/cpython_bench.py;
tests_host/test_heap_budget.py runs `Staged` under a gross-breach guard.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import repo_path
from pumpctl.link import venv_tool

ROOT = repo_path.ROOT
BUDGET = 32 * 1024
DAYS = 30
MODES = ("rom", "mpy")        # the code in a ROMFS image (as on a board), or .mpy files in the heap
_PREFIX = "HEAPRUN "


def _bin(name):
    found = venv_tool(name)
    if not found:
        raise RuntimeError("%s not found: run 'make venv' first" % name)
    return found


def modules():
    """Repo-relative .py files the run may import (all of them go into the image; only the imported
    ones cost heap). The board's main.py is an entry script, not a module."""
    out = ["hal/__init__.py", "hal/interfaces.py", "hal/mcu/__init__.py", "hal/mcu/storage.py",
           "boards/__init__.py", "boards/bench.py"]
    for pkg in ("firmware", "hal/mock", "boards/sim"):
        for name in sorted(os.listdir(os.path.join(ROOT, pkg))):
            if name.endswith(".py") and name != "main.py":
                out.append(pkg + "/" + name)
    return sorted(out)


def stage(work):
    """The .mpy files and the ROMFS image of the run's code under `work`; returns the paths.
    tools/bench/mpy_heap_scenario.py goes in as the top-level module `mpy_heap_scenario`."""
    mpy = os.path.join(work, "mpy")
    files = [(rel, rel) for rel in modules()] + [("tools/bench/mpy_heap_scenario.py", "mpy_heap_scenario.py")]
    mpy_cross = _bin("mpy-cross")
    for rel, dest in files:
        out = os.path.join(mpy, dest[:-3] + ".mpy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        proc = subprocess.run([mpy_cross, "-s", dest, "-o", out, os.path.join(ROOT, rel)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("mpy-cross %s failed:\n%s%s" % (rel, proc.stdout, proc.stderr))
    image = os.path.join(work, "code.romfs")
    proc = subprocess.run([_bin("mpremote"), "romfs", "--no-mpy", "-o", image, "build", mpy],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(image):
        raise RuntimeError("mpremote romfs build failed:\n%s%s" % (proc.stdout, proc.stderr))
    mpy_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(mpy) for f in fs)
    return {"mpy": mpy, "image": image, "image_bytes": os.path.getsize(image), "mpy_bytes": mpy_bytes}


class Staged:
    """A staged copy of the code in a temporary directory (context manager)."""

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="heaprun-")
        self.paths = stage(self.work)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.work, ignore_errors=True)

    def code(self, mode):
        return {"rom": self.paths["image"], "mpy": self.paths["mpy"]}[mode]

    def run(self, heapsize, days=DAYS, mode="rom", sample_every=0, chunk_s=3600, timeout=900):
        """One run in a fresh micropython process; the scenario's JSON report plus `exit`, `wall_s`,
        `heapsize` and `stderr` (tail). `ok` is true only if the run completed."""
        store = tempfile.mkdtemp(prefix="flash-", dir=self.work)
        cmd = [_bin("micropython"), "-X", "heapsize=%d" % heapsize,
               os.path.join(ROOT, "tools", "bench", "mpy_heap_boot.py"), mode, self.code(mode),
               str(days), store, str(sample_every), str(chunk_s)]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        finally:
            wall = time.monotonic() - started
        report = {"ok": False}
        for line in proc.stdout.splitlines():
            if line.startswith(_PREFIX):
                report = json.loads(line[len(_PREFIX):])
        if proc.returncode != 0:
            report["ok"] = False
        if not report.get("error") and not report["ok"]:
            report["error"] = _last_error(proc.stderr) or "exit %d" % proc.returncode
        report["memory_error"] = "MemoryError" in (report.get("error") or "") or "MemoryError" in proc.stderr
        report.update({"exit": proc.returncode, "wall_s": round(wall, 2), "heapsize": heapsize,
                       "stderr": proc.stderr[-1500:]})
        report["flash_files"] = len(os.listdir(store))
        report["flash_bytes_on_disk"] = sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store))
        shutil.rmtree(store, ignore_errors=True)
        return report

    def min_heapsize(self, days=DAYS, mode="rom", lo=8 * 1024, hi=256 * 1024, step=1024, confirm=4):
        """Smallest heapsize (a multiple of `step`) at which the run completes, and completes under
        each of the next `confirm` sizes too (fragmentation makes success not quite monotonic in the
        heap size); None if not even `hi`. Bisection, then the confirmation walk upward."""
        if not self.run(hi, days, mode)["ok"]:
            return None
        lo_k, hi_k = lo // step, hi // step      # invariant: hi_k completes, below lo_k fails
        while lo_k < hi_k:
            mid = (lo_k + hi_k) // 2
            if self.run(mid * step, days, mode)["ok"]:
                hi_k = mid
            else:
                lo_k = mid + 1
        while True:
            failed = [k for k in range(hi_k + 1, hi_k + 1 + confirm) if not self.run(k * step, days, mode)["ok"]]
            if not failed:
                return hi_k * step
            hi_k = max(failed) + 1
            while not self.run(hi_k * step, days, mode)["ok"]:
                hi_k += 1


def _last_error(stderr):
    lines = [s for s in stderr.strip().splitlines() if s.strip()]
    return lines[-1].strip() if lines else ""


def kb(n):
    return "%.1f KB" % (n / 1024)


def _where(rep):
    """Where a failed run stopped: the last stage it weighed, and the simulated time."""
    stages = list(rep.get("stage_heap") or {})
    order = ("runner imported", "sim board imported", "code imported", "booted (fresh pump)", "therapy running")
    last = max((order.index(n) for n in stages if n in order), default=-1)
    stage = "at import of the runner" if last < 0 else "after '%s'" % order[last]
    return "%s %s, t=%.1f d" % (rep.get("error") or "failed", stage, rep.get("t_s", 0) / 86400)


def bench_rows(days=DAYS, find_min=True):
    """Rows (quantity, value, budget) for tools/bench/cpython_bench.py (a table titled e.g. "RAM, MicroPython unix
    port (64-bit)"): the run under heapsize=32K with the code in ROMFS, the peak live heap of the same
    run under a roomy heap and what it is made of, and (find_min) the smallest heapsize that
    completes with the code in ROMFS and with the .mpy files in the heap. About a minute."""
    budget = "<= %d KB" % (BUDGET // 1024)
    with Staged() as staged:
        at_budget = staged.run(BUDGET, days, "rom")
        rows = [("%d days under heapsize=32K, code in ROMFS" % days,
                 "completes" if at_budget["ok"] else _where(at_budget), "completes")]
        rep = staged.run(256 * 1024, days, "rom", sample_every=1)
        if not rep["ok"]:
            return rows + [("%d days under heapsize=256K, code in ROMFS" % days, _where(rep), "completes")]
        code = rep["stage_heap"]["code imported"]
        harness = rep["stage_heap"]["runner imported"]
        rows += [
            ("peak live heap, %d days, code in ROMFS" % days, kb(rep["peak_live"]), budget),
            ("  imported code: firmware, sim, storage driver", kb(code - harness), "-"),
            ("  the measuring harness (bootstrap, scenario module)", kb(harness), "-"),
            ("  data: peak live heap - imported code", kb(rep["peak_live"] - code), budget),
            ("  the firmware's own objects (Pump) at the end", kb(rep["pump_data"]), "-"),
            ("heap after boot, code in ROMFS", kb(rep["stage_heap"]["booted (fresh pump)"]), "-"),
        ]
        if find_min:
            need = staged.min_heapsize(days, "rom")
            rows.append(("smallest heapsize, %d days, code in ROMFS" % days, kb(need) if need else "> 256 KB",
                         budget))
            need = staged.min_heapsize(days, "mpy", hi=512 * 1024)
            rows.append(("smallest heapsize, %d days, .mpy in the heap (%s of .mpy)"
                         % (days, kb(staged.paths["mpy_bytes"])), kb(need) if need else "> 512 KB", "-"))
    return rows


def _parse_size(text):
    text = text.strip().upper()
    scale = 1024 if text.endswith("K") else 1024 * 1024 if text.endswith("M") else 1
    return int(text.rstrip("KM")) * scale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--heapsize", default="32K", help="bytes, or with K / M (default 32K)")
    parser.add_argument("--mode", choices=MODES, default="rom", help="where the code lives (default rom)")
    parser.add_argument("--sample", type=int, default=1, metavar="N",
                        help="live heap after every N-th main-loop pass (0: stages only; default 1)")
    parser.add_argument("--find-min", action="store_true", help="also bisect the smallest heapsize that completes")
    parser.add_argument("--keep", action="store_true", help="keep the staging directory (printed)")
    args = parser.parse_args(argv)
    staged = Staged().__enter__()
    try:
        result = {"image_bytes": staged.paths["image_bytes"], "mpy_bytes": staged.paths["mpy_bytes"]}
        rep = staged.run(_parse_size(args.heapsize), args.days, args.mode, args.sample)
        if rep["ok"]:
            rep.pop("stderr")
        result["run"] = rep
        if args.find_min:
            result["min_heapsize"] = staged.min_heapsize(args.days, args.mode,
                                                         hi=256 * 1024 if args.mode == "rom" else 1024 * 1024)
        print(json.dumps(result, indent=1))
        return 0 if rep["ok"] else 1
    finally:
        if args.keep:
            sys.stderr.write("staging kept in %s\n" % staged.work)
        else:
            staged.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
