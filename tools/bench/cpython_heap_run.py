"""RAM budget: the firmware runs days of therapy on the MicroPython unix port under `-X heapsize=N`.

    python tools/bench/cpython_heap_run.py                    30 days under heapsize=32K, code in ROMFS; JSON
    python tools/bench/cpython_heap_run.py --heapsize 256K    the same with room: the peak live heap, by stage
    python tools/bench/cpython_heap_run.py --find-min         also the smallest heapsize (1 KB steps) that completes
    python tools/bench/cpython_heap_run.py --mode mpy         the code loaded into the heap instead
    python tools/bench/cpython_heap_run.py --interp mpy32 --layout board --heapsize 256K
                                        on the 32-bit build, as a board with frozen code runs

On a board the code is frozen or in a ROMFS partition (executed in place from flash) and the heap
holds only data; on the unix port .py and .mpy files are loaded into the heap. So the modules the
run needs (firmware, hal.interfaces, hal.contracts, hal.mock, hal.mcu.storage, boards.sim) are compiled
with mpy-cross into a ROMFS image (`mpremote romfs build`), which tools/bench/mpy_heap_boot.py mounts with
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
an upper bound for a board. The interpreter is a parameter (`Staged(interp=...)`, `--interp`): "mpy32"
is the 32-bit single-float unix build (PUMP_MPY32, else ../shared/emu beside the repository, the rule
of tests_host/tiers.py), whose objects have the board's sizes. With layout "board" the run does what a
board with frozen code does (mpy_heap_scenario.py: every module loaded at boot and kept, replies
streamed out of the heap); with the code in ROMFS that is the frozen-image production path
(docs/deploy-frozen.md), measured against issue 15's heap budgets by `flash_rows()`. The .mpy deploy
(code loaded into RAM) is measured on the emulated Pico: tools/emu/heap.py.

`bench_rows()` gives the (quantity, value, budget) rows of tools/bench/cpython_bench.py (64-bit), and
`bench_rows_flash32()` those of the 32-bit run; tests_host/test_heap_budget.py (64-bit) and
tests_host/test_heap_budget32.py (32-bit) run `Staged` under a gross-breach guard.
"""

import argparse
import json
import os
import re
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
LAYOUTS = ("sim", "board")    # mpy_heap_scenario.py: the simulator's defaults, or as a board with frozen code
_PREFIX = "HEAPRUN "
_QSTR = re.compile(r"qstr pool: n_pool=(\d+), n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")

# issue 15's heap budgets (the same as tools/emu/heap.py's for the emulated Pico)
BOOT_BUDGET = 72 * 1024       # heap in use after boot
PEAK_BUDGET = 88 * 1024       # at the peak of a therapy run
MPY32_NAME = "micropython-1.28.0-unix-i386"
HEAP32 = 256 * 1024           # the 32-bit run's -X heapsize: room (the figures are what is in use)


def _bin(name):
    found = venv_tool(name)
    if not found:
        raise RuntimeError("%s not found: run 'make venv' first" % name)
    return found


def modules():
    """Repo-relative .py files the run may import (all of them go into the image; only the imported
    ones cost heap). The board's main.py is an entry script, not a module."""
    out = ["hal/__init__.py", "hal/interfaces.py", "hal/contracts.py", "boards/__init__.py", "boards/bench.py",
           "boards/start.py", "boards/mcu_board.py", "boards/pico/__init__.py", "boards/pico/board.py"]
    for pkg in ("firmware", "hal/mock", "hal/mcu", "boards/sim"):
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


def mpy32_path():
    """Where the 32-bit single-float MicroPython unix build is looked for: PUMP_MPY32, else
    ../shared/emu/micropython-1.28.0-unix-i386 beside the repository (tests_host/tiers.py's rule)."""
    return os.environ.get("PUMP_MPY32") or os.path.join(os.path.dirname(os.path.abspath(ROOT)), "shared", "emu",
                                                        MPY32_NAME)


def mpy32_binary():
    """The 32-bit build's path if it is an executable file, else None."""
    path = mpy32_path()
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def interpreter(name=None):
    """The MicroPython binary a run uses: None or "micropython", the 64-bit unix port of .venv;
    "mpy32", the 32-bit build (RuntimeError if it is missing); else a path to a unix build."""
    if name in (None, "micropython"):
        return _bin("micropython")
    if name == "mpy32":
        found = mpy32_binary()
        if not found:
            raise RuntimeError("the 32-bit MicroPython build is not at %s (set PUMP_MPY32=path)" % mpy32_path())
        return found
    if not (os.path.isfile(name) and os.access(name, os.X_OK)):
        raise RuntimeError("no MicroPython binary at %s" % name)
    return name


class Staged:
    """A staged copy of the code in a temporary directory (context manager); its runs use the
    MicroPython binary `interp` (see interpreter())."""

    def __init__(self, interp=None):
        self.interp = interpreter(interp)

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="heaprun-")
        self.paths = stage(self.work)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.work, ignore_errors=True)

    def code(self, mode):
        return {"rom": self.paths["image"], "mpy": self.paths["mpy"]}[mode]

    def mpy_size(self, names):
        """Bytes of the staged .mpy files of the modules `names` (dotted; others are skipped)."""
        total = 0
        for name in names:
            base = os.path.join(self.paths["mpy"], *name.split("."))
            for path in (base + ".mpy", os.path.join(base, "__init__.mpy")):
                if os.path.isfile(path):
                    total += os.path.getsize(path)
                    break
        return total

    def run(self, heapsize, days=DAYS, mode="rom", sample_every=0, chunk_s=3600, timeout=900, layout="sim"):
        """One run in a fresh micropython process; the scenario's JSON report plus `exit`, `wall_s`,
        `heapsize`, `interp`, `stderr` (tail) and `qstr` ({stage: the interned names' pool figures
        of micropython.qstr_info()}). `ok` is true only if the run completed."""
        store = tempfile.mkdtemp(prefix="flash-", dir=self.work)
        cmd = [self.interp, "-X", "heapsize=%d" % heapsize,
               os.path.join(ROOT, "tools", "bench", "mpy_heap_boot.py"), mode, self.code(mode),
               str(days), store, str(sample_every), str(chunk_s), layout]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        finally:
            wall = time.monotonic() - started
        report = {"ok": False}
        qstr, stage = {}, None
        for line in proc.stdout.splitlines():
            if line.startswith(_PREFIX):
                report = json.loads(line[len(_PREFIX):])
            elif line.startswith("QSTR "):
                stage = line[5:]
            elif stage is not None and _QSTR.match(line):
                n_pool, n_qstr, n_str, n_total = (int(x) for x in _QSTR.match(line).groups())
                qstr[stage] = {"pools": n_pool, "names": n_qstr, "text_bytes": n_str, "total_bytes": n_total}
                stage = None
        report["qstr"] = qstr
        if proc.returncode != 0:
            report["ok"] = False
        if not report.get("error") and not report["ok"]:
            report["error"] = _last_error(proc.stderr) or "exit %d" % proc.returncode
        report["memory_error"] = "MemoryError" in (report.get("error") or "") or "MemoryError" in proc.stderr
        report.update({"exit": proc.returncode, "wall_s": round(wall, 2), "heapsize": heapsize,
                       "interp": self.interp, "stderr": proc.stderr[-1500:]})
        report["imported_mpy_bytes"] = self.mpy_size(report.get("modules") or ())
        report["board_only_mpy_bytes"] = self.mpy_size(("boards.mcu_board", "boards.pico.board"))
        report["flash_files"] = len(os.listdir(store))
        report["flash_bytes_on_disk"] = sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store))
        shutil.rmtree(store, ignore_errors=True)
        return report

    def min_heapsize(self, days=DAYS, mode="rom", lo=8 * 1024, hi=256 * 1024, step=1024, confirm=4, layout="sim"):
        """Smallest heapsize (a multiple of `step`) at which the run completes, and completes under
        each of the next `confirm` sizes too (fragmentation makes success not quite monotonic in the
        heap size); None if not even `hi`. Bisection, then the confirmation walk upward."""
        def completes(heapsize):
            return self.run(heapsize, days, mode, layout=layout)["ok"]

        if not completes(hi):
            return None
        lo_k, hi_k = lo // step, hi // step      # invariant: hi_k completes, below lo_k fails
        while lo_k < hi_k:
            mid = (lo_k + hi_k) // 2
            if completes(mid * step):
                hi_k = mid
            else:
                lo_k = mid + 1
        while True:
            failed = [k for k in range(hi_k + 1, hi_k + 1 + confirm) if not completes(k * step)]
            if not failed:
                return hi_k * step
            hi_k = max(failed) + 1
            while not completes(hi_k * step):
                hi_k += 1


def _last_error(stderr):
    lines = [s for s in stderr.strip().splitlines() if s.strip()]
    return lines[-1].strip() if lines else ""


def kb(n):
    return "%.1f KB" % (n / 1024)


def _where(rep):
    """Where a failed run stopped: the last stage it weighed, and the simulated time."""
    stages = list(rep.get("stage_heap") or {})
    order = ("runner imported", "board code imported", "sim board imported", "code imported", "booted (fresh pump)",
             "therapy running")
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


def _names_tables(rep, first, then):
    """Bytes of the interned names' pool tables the heap gained from stage `first` to `then`, and the
    names added. With the code in ROMFS the names' text stays in the image (qstr_info counts it but it
    is not in the heap); the tables are in the heap. A frozen image has both in flash."""
    a, b = rep["qstr"][first], rep["qstr"][then]
    return (b["total_bytes"] - b["text_bytes"]) - (a["total_bytes"] - a["text_bytes"]), b["names"] - a["names"]


def _judged(value, budget):
    return "%s: %s" % (kb(value), "met" if value <= budget else "NOT met")


def flash_rows(rep, mpy=None):
    """Rows (quantity, value, budget) of the code-in-flash production path against issue 15's heap
    budgets, from `rep`, a run on the 32-bit build with the code in ROMFS and layout "board", and
    `mpy`, the same build and layout importing and booting only (0 days) with the .mpy files in the
    heap (None: not run). The judged figures leave out the simulator's code objects (boards.sim,
    hal.mock, hal.contracts: no board holds them), measured as what importing boards.sim kept in the
    heap after the board's code (the firmware, boards.bench, boards.start, hal.mcu:
    mpy_heap_scenario.BOARD_MODULES) was loaded."""
    where = "32-bit build, code in flash (ROMFS)"
    if not rep.get("ok"):
        return [("heap of a %d-day therapy run, %s" % (rep.get("days", 0), where), _where(rep), "completes")]
    heap = rep["stage_heap"]
    sim_code = heap["code imported"] - heap["board code imported"]
    harness = heap["runner imported"]
    names, n_names = _names_tables(rep, "runner imported", "board code imported")
    boot = heap["booted (fresh pump)"]
    rows = [
        ("heap in use after boot (fresh pump), %s" % where, _judged(boot - sim_code, BOOT_BUDGET),
         "<= %s" % kb(BOOT_BUDGET)),
        ("peak live heap, %d days of therapy (at '%s'), %s" % (rep["days"], rep["peak_live_stage"], where),
         _judged(rep["peak_live"] - sim_code, PEAK_BUDGET), "<= %s" % kb(PEAK_BUDGET)),
        ("  left out above: the simulator's code objects (boards.sim, hal.mock, hal.contracts)", kb(sim_code), "-"),
        ("  as measured, with them: after boot / peak live", "%s / %s" % (kb(boot), kb(rep["peak_live"])), "-"),
        ("  runtime and the measuring harness (bootstrap, scenario)", kb(harness), "-"),
        ("  the pump's code objects (modules, functions, classes, code records: firmware, hal.mcu, boards)",
         kb(heap["board code imported"] - harness), "-"),
        ("    of which the interned names' tables (%d names; in flash when frozen)" % n_names, kb(names), "-"),
        ("  not in the run (they need `machine`): boards.mcu_board, boards.pico.board", "%s of .mpy"
         % kb(rep["board_only_mpy_bytes"]), "-"),
        ("  data after boot (the pump, the sim's mocks)", kb(boot - heap["code imported"]), "-"),
        ("  the firmware's own objects (Pump) at the end", kb(rep["pump_data"]), "-"),
        ("  peak of a pass, uncollected (the emulated Pico's measure; at '%s')" % rep["pass_peak_stage"],
         kb(rep["pass_peak"] - sim_code), "-"),
    ]
    if mpy is not None:
        if not mpy.get("ok"):
            rows.append(("  .mpy files in the heap instead: after boot", _where(mpy), "-"))
        else:
            mpy_heap = mpy["stage_heap"]
            mpy_boot = mpy_heap["booted (fresh pump)"]
            mpy_sim_code = mpy_heap["code imported"] - mpy_heap["board code imported"]
            rows += [
                ("  .mpy files in the heap instead (same build, all loaded): after boot",
                 kb(mpy_boot - mpy_sim_code), "-"),
                ("  code kept out of the heap by ROMFS (the imported modules: %s of .mpy)"
                 % kb(mpy["imported_mpy_bytes"]), kb(mpy_boot - boot), "-"),
            ]
    return rows


def bench_rows_flash32(days=DAYS, exe=None):
    """flash_rows() measured: a `days` run on the 32-bit build (`exe`, else PUMP_MPY32 or
    ../shared/emu) with the code in ROMFS, and the import-and-boot run with the .mpy files in the
    heap; one row saying why when the build is missing or its run cannot start. About a minute for
    30 days."""
    exe = exe or mpy32_binary()
    if exe is None:
        return [("heap, code in flash (ROMFS), 32-bit build",
                 "not measured: %s not found (set PUMP_MPY32=path)" % mpy32_path(), "-")]
    try:
        with Staged(interp=exe) as staged:
            rep = staged.run(HEAP32, days, "rom", sample_every=1, layout="board")
            mpy = staged.run(2 * HEAP32, 0, "mpy", layout="board") if rep["ok"] else None
            return flash_rows(rep, mpy)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return [("heap, code in flash (ROMFS), 32-bit build", "failed: %s" % str(exc).splitlines()[0], "-")]


def _parse_size(text):
    text = text.strip().upper()
    scale = 1024 if text.endswith("K") else 1024 * 1024 if text.endswith("M") else 1
    return int(text.rstrip("KM")) * scale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--heapsize", default="32K", help="bytes, or with K / M (default 32K)")
    parser.add_argument("--mode", choices=MODES, default="rom", help="where the code lives (default rom)")
    parser.add_argument("--interp", default="micropython", metavar="NAME|PATH",
                        help="micropython (the 64-bit unix port, default), mpy32 (the 32-bit build) or a path")
    parser.add_argument("--layout", choices=LAYOUTS, default="sim",
                        help="sim (default) or board: as a board with frozen code (mpy_heap_scenario.py)")
    parser.add_argument("--sample", type=int, default=1, metavar="N",
                        help="live heap after every N-th main-loop pass (0: stages only; default 1)")
    parser.add_argument("--find-min", action="store_true", help="also bisect the smallest heapsize that completes")
    parser.add_argument("--keep", action="store_true", help="keep the staging directory (printed)")
    args = parser.parse_args(argv)
    try:
        staged = Staged(args.interp)
    except RuntimeError as exc:
        parser.exit(2, "cpython_heap_run: %s\n" % exc)
    staged.__enter__()
    try:
        result = {"image_bytes": staged.paths["image_bytes"], "mpy_bytes": staged.paths["mpy_bytes"]}
        rep = staged.run(_parse_size(args.heapsize), args.days, args.mode, args.sample, layout=args.layout)
        if rep["ok"]:
            rep.pop("stderr")
        result["run"] = rep
        if args.find_min:
            result["min_heapsize"] = staged.min_heapsize(args.days, args.mode,
                                                         hi=256 * 1024 if args.mode == "rom" else 1024 * 1024,
                                                         layout=args.layout)
        print(json.dumps(result, indent=1))
        return 0 if rep["ok"] else 1
    finally:
        if args.keep:
            sys.stderr.write("staging kept in %s\n" % staged.work)
        else:
            staged.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
