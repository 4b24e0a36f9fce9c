"""The pump's heap on the emulated Pico (the real 32-bit MicroPython heap of the RPI_PICO image), for
`make bench`:

    python tools/emu/heap.py            # JSON: the figures below
    bench_rows()                        # (quantity, measured, budget) rows for tools/bench/cpython_bench.py

Every figure is for the `make build BOARD=pico` deploy (.mpy files on the flash, loaded into RAM, as
most users run it), booted with the bench jumper closed, with tools/emu/heap_main.py as /main.py (the
pump built by boards/start.py as the board's main.py builds it, a collection before every main-loop
pass; its own code, about 2.7 KB with its names, is in every figure); the bench's `sim.state` carries
the figures.
1. after boot: a new pump (empty flash), once it runs: the heap in use after the collection at the
   start of the pass that serves `sim.state`, i.e. between commands (on a board the code a command
   loads leaves RAM after its reply; until this work the figure was read inside `sim.state`, with the
   code serving it loaded).
2. peak of a therapy run: gc.mem_alloc() after every pass and before every collection the firmware
   makes during it; a session of
   provisioning, calibration, refill, programmes (a 12-step flex one), a prime, delivery, an alarm,
   status and a 64-record log export; the largest figure of any pass.
3. with a full event log, the steady state of a pump in service: the flash starts with the 200 log
   slots of a simulated pump that has run a while (refills, programmes, boluses, self-tests, setting
   changes, resets: full_log_slots()). The peak is that of the same session on it; "after boot" is the
   next boot of what the session left (settings, journal, keys, a full log, the therapy resumed).
4. the heap each module holds: every module of the deploy imported alone, in dependency order, on the
   emulated Pico (heap_main.py's module mode); the largest ten in the bench table.
5. the floor of the .mpy deploy: the pump built and run one pass, then everything but the step path
   out of RAM (heap_main.py's floor mode: the Protocol object with the Auth, the bench, every module
   but FLOOR_MODULES, firmware.app and the hal modules); then that plus the code every signed command
   loads (SIGNED_MODULES, their figures from 4). Lower bounds: with this code in RAM the pump can
   never hold less after boot (it keeps no state of the gate: keys, counters), nor less while a
   signed command is served (no request, no handler).
Budgets: issue 15's goal, <= 72 KB in use after boot and <= 88 KB at the peak (shown on rows 1-3, and
against the floor).
"""

import ast
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import mkfs  # noqa: E402
import pico  # noqa: E402

BOOT_BUDGET = 72 * 1024
PEAK_BUDGET = 88 * 1024
TOP_MODULES = 10
STORAGE_DIR = "data"            # boards/pico/board.py STORAGE_DIR, under the image's root
# What a pump runs between commands: the step path, its supervision and alarm tones, the journal and
# the event log on flash, the line reader, the board's build and drivers (every hal module the deploy
# holds). Not the bench (a bench jumper's extension) nor anything a command loads.
FLOOR_MODULES = (
    "boards", "boards.start", "boards.mcu_board", "boards.pico", "boards.pico.board",
    "firmware", "firmware.stops", "firmware.config", "firmware.calibration", "firmware.errors",
    "firmware.lazy", "firmware.timebase", "firmware.planner", "firmware.therapy", "firmware.accounting",
    "firmware.bolus", "firmware.delivery", "firmware.tones", "firmware.alarms", "firmware.guard",
    "firmware.monitors", "firmware.supervisor", "firmware.record", "firmware.logstore",
    "firmware.eventlog", "firmware.store", "firmware.demand", "firmware.framing",
)
# What every signed command loads besides: the serving of a line, the gate, the key record and the MAC.
SIGNED_MODULES = ("firmware.roles", "firmware.ratelog", "firmware.auth", "firmware.gate", "firmware.authstore",
                  "firmware.hmac_sha256", "firmware.protocol", "firmware.serve", "firmware.control")


def _therapy_session(p, keys):
    """What a pump's first day brings, over its link; returns the last sim.state, with "refused": the
    commands the pump refused ("cmd: error"), e.g. a MemoryError of a command (the pump goes on)."""
    from pumpctl import keys as keyfile
    from pumpctl.link import LinkError
    link = p.boot_link(keys=keys)
    refused = []

    def call(cmd, **args):
        try:
            link.call(cmd, **args)
        except LinkError as exc:
            refused.append(str(exc)[:160])
    link.request_as(None, "keys.provision", **keyfile.provision_args(keys))
    call("set", nl_per_step=52)
    call("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=20)
    call("set", max_rate_ul_h=10000)
    call("program", mode="continuous", dose_mcg_day=500, confirm=True)
    call("prime", volume_ul=5)
    p.wait_emulated(5)
    steps = [{"start_s": i * 7200, "dose_mcg_day": 400 + 10 * i} for i in range(12)]
    call("program", mode="flex", cycle="day", steps=steps, confirm=True)
    p.set_adc(pico.BATTERY_ADC, pico.raw12(1750))        # 3.5 V: BATTERY_ERI after three readings
    p.wait_emulated(20)
    call("status")
    call("log", since=0, limit=64)
    call("keys.state")
    state = link.call("sim.state")
    state["heap_peak"]["refused"] = refused
    return state


def full_log_slots(records=260):
    """{file name: bytes}: the event-log slots of a pump that has run a while, from the simulator
    (boards/sim on CPython): cycles of refill, a continuous and a 12-step flex programme, a bolus, a
    self-test, a setting change and a reset, until `records` records were logged (every slot full)."""
    for extra in (ROOT, os.path.join(ROOT, "hal", "cpython")):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    from boards.sim.board import Simulation
    sim = Simulation()
    steps = [{"start_s": i * 7200, "dose_mcg_day": 400 + 10 * i} for i in range(12)]

    def call(cmd, **args):
        reply = sim.request(cmd, **args)
        if not reply.get("ok"):
            raise RuntimeError("simulator refused %s: %r" % (cmd, reply))
    t_s = 0
    while sim.pump.log.next_seq < records:
        call("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
        sim.mock_pump.fill(20 * 10 ** 9)
        call("program", mode="continuous", dose_mcg_day=500)
        call("program", mode="flex", cycle="day", steps=steps)
        call("bolus", dose_mcg=10, duration_s=600)
        t_s += 900
        sim.run_until_s(t_s)
        call("selftest")
        call("set", low_reservoir_ml=2 + (t_s // 900) % 2)
        sim.power_cycle(60)
        t_s += 60
    return {name: data for name, data in sim.flash.files.items() if name.startswith("ev")}


def module_order(tree):
    """The modules of a deploy tree (lib/**/*.mpy) as dotted names, each after the modules its
    top-level imports name (read from the sources in the repository) and after its packages."""
    lib = os.path.join(tree, "lib")
    names = []
    for dirpath, _dirs, files in os.walk(lib):
        for f in files:
            if f.endswith(".mpy"):
                rel = os.path.relpath(os.path.join(dirpath, f[:-4]), lib).replace(os.sep, ".")
                names.append(rel[:-len(".__init__")] if rel.endswith(".__init__") else rel)
    known = set(names)

    def source(name):
        base = os.path.join(ROOT, *name.split("."))
        return base + ".py" if os.path.isfile(base + ".py") else os.path.join(base, "__init__.py")

    def deps(name):
        out = []
        parts = name.split(".")
        out += [".".join(parts[:i]) for i in range(1, len(parts))]
        with open(source(name)) as f:
            tree_ = ast.parse(f.read())
        stack = list(tree_.body)
        while stack:
            node = stack.pop(0)
            if isinstance(node, ast.Import):
                out += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.append(node.module)
                out += [node.module + "." + a.name for a in node.names]
            elif isinstance(node, (ast.If, ast.Try)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
        return [d for d in out if d in known and d != name]

    order = []
    done = set()

    def visit(name, path):
        if name in done or name in path:
            return
        for dep in deps(name):
            visit(dep, path + (name,))
        done.add(name)
        order.append(name)
    for name in sorted(names):
        visit(name, ())
    return order


def floor_evict(order):
    """The modules the floor run takes out of RAM: every module of `order` (the deploy) but
    FLOOR_MODULES, firmware.app and the hal modules."""
    return [m for m in order if m not in FLOOR_MODULES and m != "firmware.app" and m != "hal"
            and not m.startswith("hal.")]


def _floor(tree, tmp, modules):
    """heap_main.py's floor mode on the deploy `tree`; {"before", "alloc", "evicted", "signed_code",
    "signed_modules"} (bytes; `modules`: measure()'s per-module figures)."""
    with open(os.path.join(tree, "heap_floor.txt"), "w") as f:
        f.write("\n".join(floor_evict(module_order(tree))) + "\n")
    img = mkfs.image(tree, os.path.join(tmp, "floor.img"))
    saved = os.path.join(tmp, "floor-after.img")
    p = pico.EmulatedPico(img, gpio={pico.BENCH: 0}).start()
    try:
        for _ in range(120):
            p.wait_emulated(1)
            p.save(saved)
            files = mkfs.read_files(saved)
            if "/heap_floor.json" in files:
                break
        else:
            raise pico.EmulatorError("the floor run wrote no /heap_floor.json in 120 emulated seconds")
    finally:
        p.stop()
    got = json.loads(files["/heap_floor.json"])
    kept = {name: k for name, k, _ in modules}
    signed = [m for m in module_order(tree) if m in SIGNED_MODULES]
    return {"before": got["before"], "alloc": got["floor"], "evicted": got["evicted"],
            "signed_modules": signed, "signed_code": sum(kept.get(m) or 0 for m in signed)}


def _state(img, keys, session=False, save_fs=None):
    p = pico.EmulatedPico(img, save_fs=save_fs, gpio={pico.BENCH: 0}).start()
    try:
        if session:
            return _therapy_session(p, keys)
        return p.boot_link(keys=keys).call("sim.state")
    finally:
        p.stop()


def measure(keep=None):
    """{"boot", "peak", "boot_full", "peak_full": {alloc, free[, passes, cmd]}, "peak_by_cmd",
    "peak_full_by_cmd": {command: alloc}, "resident": the modules in RAM once the pump runs,
    "before_imports": heap in use before the first import,
    "modules": [[name, bytes kept, bytes allocated by the import]]} in bytes (modules largest first);
    raises pico.EmulatorError."""
    from pumpctl import keys as keyfile
    tmp = keep or tempfile.mkdtemp(prefix="pump-heap-")
    try:
        tree = mkfs.deploy_tree("mpy", os.path.join(tmp, "tree"))
        main_py = os.path.join(tree, "main.py")
        keys = keyfile.generate()
        out = {}
        shutil.copyfile(os.path.join(HERE, "heap_main.py"), main_py)
        state = _state(mkfs.image(tree, os.path.join(tmp, "boot.img")), keys)
        out["boot"] = state["heap_rest"]
        state = _state(mkfs.image(tree, os.path.join(tmp, "peak.img")), keys, session=True)
        out["peak"], out["peak_by_cmd"] = state["heap_peak"], state["heap_by_cmd"]
        out["resident"] = state["heap_resident"]
        # a full event log: the session on it, then the next boot of what it left
        data = os.path.join(tree, STORAGE_DIR)
        os.makedirs(data)
        for name, blob in full_log_slots().items():
            with open(os.path.join(data, name), "wb") as f:
                f.write(blob)
        full = os.path.join(tmp, "full.img")
        mkfs.image(tree, full)
        state = _state(full, keys, session=True, save_fs=full)
        out["peak_full"], out["peak_full_by_cmd"] = state["heap_peak"], state["heap_by_cmd"]
        shutil.rmtree(data)
        mkfs.redeploy(full, tree)
        state = _state(full, keys)
        out["boot_full"] = state["heap_rest"]
        # the heap of each module, imported alone
        with open(os.path.join(tree, "heap_modules.txt"), "w") as f:
            f.write("\n".join(module_order(tree)) + "\n")
        state = _state(mkfs.image(tree, os.path.join(tmp, "modules.img")), keys)
        out["before_imports"] = state["heap_modules"][0][1]
        out["modules"] = sorted(state["heap_modules"][1:], key=lambda m: -(m[1] or 0))
        # the floor: the pump with everything but the step path out of RAM
        os.remove(os.path.join(tree, "heap_modules.txt"))
        out["floor"] = _floor(tree, tmp, out["modules"])
        return out
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _kb(n):
    return "%.1f KB" % (n / 1024)


def bench_rows(m=None):
    """(quantity, measured, budget) rows; one row saying why when the emulated Pico is unavailable.
    `m` is a measure() result (measured here when None)."""
    if m is None:
        reason = pico.unavailable()
        if reason:
            return [("heap on the emulated Pico", "not measured: " + reason, "-")]
        try:
            m = measure()
        except pico.EmulatorError as exc:
            return [("heap on the emulated Pico", "failed: %s" % str(exc).splitlines()[0], "-")]
    boot = m["boot"]
    total = boot["alloc"] + boot["free"]

    def figure(d, budget):
        met = d["alloc"] <= budget and not d.get("refused")
        text = "%s (%s free): %s" % (_kb(d["alloc"]), _kb(d["free"]), "met" if met else "NOT met")
        if d.get("refused"):
            text += "; refused: " + "; ".join(d["refused"])
        return text
    rows = [
        ("heap in use after boot, emulated Pico, .mpy deploy (of %s)" % _kb(total), figure(boot, BOOT_BUDGET),
         "<= %s" % _kb(BOOT_BUDGET)),
        ("heap peak of a therapy run, emulated Pico (%d wake-ups; at '%s')" % (m["peak"]["passes"],
                                                                              m["peak"].get("cmd", "?")),
         figure(m["peak"], PEAK_BUDGET), "<= %s" % _kb(PEAK_BUDGET)),
        ("heap in use after boot, full event log (200 records), therapy resumed", figure(m["boot_full"], BOOT_BUDGET),
         "<= %s" % _kb(BOOT_BUDGET)),
        ("heap peak of the therapy run on a full event log (%d wake-ups; at '%s')" % (
            m["peak_full"]["passes"], m["peak_full"].get("cmd", "?")),
         figure(m["peak_full"], PEAK_BUDGET), "<= %s" % _kb(PEAK_BUDGET)),
    ]
    mods = m["modules"]
    code = sum(mod[1] for mod in mods if mod[1])
    resident = sum(mod[1] for mod in mods if mod[1] and mod[0] in m["resident"])
    rows.append(("heap of the modules, each imported alone (%d modules)" % len(mods), _kb(code), "-"))
    rows.append(("  of which in RAM once the pump runs (%d modules; the rest load per command)"
                 % len([mod for mod in mods if mod[0] in m["resident"]]), _kb(resident), "-"))
    fl = m.get("floor")
    if fl:
        rows.append(("floor after boot: the pump with its command layer out of RAM (%s; %s before)"
                     % (", ".join(n.split(".")[-1] for n in fl["evicted"]), _kb(fl["before"])),
                     "%s: %s" % (_kb(fl["alloc"]), "below the budget" if fl["alloc"] <= BOOT_BUDGET
                                 else "ABOVE the budget: not reachable with this code in RAM"),
                     "<= %s" % _kb(BOOT_BUDGET)))
        at_signed = fl["alloc"] + fl["signed_code"]
        rows.append(("floor at a signed command: the above + the code every signed command loads (%s)"
                     % ", ".join(n.split(".")[-1] for n in fl["signed_modules"]),
                     "%s: %s" % (_kb(at_signed), "below the budget" if at_signed <= PEAK_BUDGET
                                 else "ABOVE the budget: not reachable with this code in RAM"),
                     "<= %s" % _kb(PEAK_BUDGET)))
    for rank, mod in enumerate(mods[:TOP_MODULES]):
        label = "largest module" if rank == 0 else "  module #%d" % (rank + 1)
        rows.append(("%s: %s" % (label, mod[0]), "import failed" if mod[1] is None else "%d B" % mod[1], "-"))
    return rows


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
