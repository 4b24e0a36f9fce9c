"""make bench: speed, exactness and memory figures, printed as a table. Never run by the tests:
timings depend on the machine. Each row names its budget where the project has one.

Usage: python tools/bench/cpython_bench.py [--quick] [--only floor,ram,...]

It runs the scripts beside it (mpy_*.py on the MicroPython unix port and the 32-bit build, the heap
runs of cpython_heap_run.py: 64-bit, and 32-bit with the code in flash) and the emulated Pico's heap
figures (tools/emu/heap.py).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import repo_path
from pumpctl import scenario as scenario_mod
from pumpctl.link import micropython_binary
from pumpctl.runner import Runner

ROOT = Path(repo_path.ROOT).resolve()
BENCH = ROOT / "tools" / "bench"
DAY = 86400
STEP_NL = 50
FILL = {"do": "refill", "drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 20}


def _refills(days, every_days):
    return [dict(FILL, at=d * DAY) for d in range(every_days, days, every_days)]


def _flex_day_rate(t):
    off = t % DAY
    return 200_000 if off < 8 * 3600 else 300_000 if off < 20 * 3600 else 150_000


def _flex_week_rate(t):
    return 250_000 if t % (7 * DAY) < 3 * DAY + 20 * 3600 else 400_000


def _expected_nl(rate_fn, changes, until):
    """Exact programmed volume: integral of the rate over [0, until) with change points."""
    points = sorted(set([0, until] + [c for c in changes if 0 < c < until]))
    total = Fraction(0)
    for a, b in zip(points, points[1:]):
        total += Fraction(rate_fn(a) * (b - a), DAY)
    return total


MODES = {
    "continuous 500 mcg/day": (
        [{"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500}], lambda t: 250_000, []),
    "flex day (3 steps)": (
        [{"at": 0, "do": "program", "mode": "flex", "steps": [
            {"start": 0, "dose_mcg_day": 400}, {"start": "8h", "dose_mcg_day": 600},
            {"start": "20h", "dose_mcg_day": 300}]}],
        _flex_day_rate, [d * DAY + h * 3600 for d in range(366) for h in (0, 8, 20)]),
    "flex week (2 steps)": (
        [{"at": 0, "do": "program", "mode": "flex", "cycle": "week", "steps": [
            {"start": 0, "dose_mcg_day": 500}, {"start": "3d20h", "dose_mcg_day": 800}]}],
        _flex_week_rate, [w * 7 * DAY + o for w in range(53) for o in (0, 3 * DAY + 20 * 3600)]),
    "minimum (48 uL/day)": (
        [{"at": 0, "do": "program", "mode": "minimum"}], lambda t: 48_000, []),
}


def run(data, interp):
    scen = scenario_mod.parse(data)
    start = time.monotonic()
    report = Runner(scen, interp=interp).run()
    return report, time.monotonic() - start


def mode_rows(days):
    rows = []
    for name, (actions, rate_fn, changes) in MODES.items():
        data = {"name": name, "actions": [dict(FILL, at=0)] + actions + _refills(days, 60),
                "until": days * DAY}
        report, wall = run(data, "micropython")
        expected = _expected_nl(rate_fn, changes, days * DAY)
        err_nl = Fraction(round(report["delivered_ul"] * 1000)) - expected
        steps = report["steps"]
        rows.append((name, "%.3f" % float(err_nl / STEP_NL), "%.5f %%" % float(100 * err_nl / expected),
                     "%d" % round(report["wakeups"] / days), "%d" % round(steps / days), "%.1f s" % wall))
    return rows


def speed_rows(days):
    data = {"name": "speed", "actions": [dict(FILL, at=0),
                                         {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500}]
            + _refills(days, 60), "until": days * DAY}
    rows = []
    for interp in ("micropython", "cpython"):
        _, wall = run(data, interp)
        rows.append((interp, "%.1f s" % (wall * 365 / days)))
    return rows


DETECT = (("MOTOR_STALL", "motor_stall"), ("OCCLUSION", "occlusion"), ("DISCONNECT", "disconnect"),
          ("BATTERY_ERI", "battery_low"), ("BATTERY_EOS", "battery_eos"), ("OVERDELIVERY_GUARD", "misbehave"))


def detection_rows():
    """Time from fault to alarm, and volume the mock pump moved meanwhile, at two rates."""
    from boards.sim.board import Simulation
    rows = []
    for code, fault in DETECT:
        cells = [code]
        for programme in ({"mode": "minimum"}, {"mode": "continuous", "dose_mcg_day": 500}):
            sim = Simulation(start_ticks=(1 << 30) - 60_000)
            sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
            sim.mock_pump.fill(20_000_000_000)
            sim.request("program", **programme)
            t0 = 3600 + 7
            sim.run_until_s(t0)
            moved0 = sim.mock_pump.moved_pl
            if fault == "misbehave":
                sim.request("sim.misbehave", gain=10)
            else:
                sim.request("sim.fault", fault=fault)
            t = t0
            found = None
            while found is None and t < t0 + 2 * DAY:
                t += 30
                sim.run_until_s(t)
                found = next((n for n in sim.notices if n.get("code") == code and n["notice"] == "alarm_raise"),
                             None)
            if found is None:
                cells.append("not within 2 days")
            else:
                cells.append("%d s, %.2f uL" % (found["t_s"] - t0, (sim.mock_pump.moved_pl - moved0) / 1e6))
        rows.append(tuple(cells))
    return rows


def wear_rows(days=30):
    """Flash writes at 500 mcg/day (settings, journal every hour, event log) and the years until a
    100,000-cycle flash wears out: with littlefs spreading erases over the filesystem's blocks, and in
    the worst case where every journal write erases the same two blocks (a metadata pair)."""
    from boards.sim.board import Simulation
    sim = Simulation()
    sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    sim.mock_pump.fill(20_000_000_000)
    sim.request("program", mode="continuous", dose_mcg_day=500)
    bytes0, writes0 = sim.flash.bytes_written, sim.flash.writes
    sim.run_until_s(days * DAY)
    per_day_bytes = (sim.flash.bytes_written - bytes0) / days
    per_day_writes = (sim.flash.writes - writes0) / days
    cycles = 100_000
    rows = [("bytes written per day", "%.0f B" % per_day_bytes, "-"),
            ("file writes per day", "%.1f" % per_day_writes, "-")]
    for board, blocks in (("pico (848 KB fs, 212 x 4 KB blocks)", 212), ("esp32 (2 MB fs, 512 blocks)", 512)):
        years = cycles * blocks / per_day_writes / 365
        rows.append(("years to wear-out, " + board, "%.0f" % years, "> 10"))
    rows.append(("years, worst case: every write on 2 blocks", "%.1f" % (cycles * 2 / per_day_writes / 365), "> 10"))
    return rows


def boot_rows():
    rows = []
    for interp, exe in (("micropython", micropython_binary()), ("cpython", sys.executable)):
        out = subprocess.run([exe, str(BENCH / "mpy_boot.py")], capture_output=True, text=True, timeout=300)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((interp, "%.1f ms" % data["boot_ms"], "%.1f ms" % data["first_step_ms"]))
    return rows


def _micropython_json(script, exe=None):
    out = subprocess.run([exe or micropython_binary(), str(BENCH / script)], capture_output=True,
                         text=True, timeout=600, cwd=str(ROOT))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mpy32_binary():
    """The 32-bit single-float MicroPython (PUMP_MPY32, else ../shared/emu beside the repository;
    the same rule as tests_host/tiers.py), or None."""
    path = os.environ.get("PUMP_MPY32") or str(ROOT.parent / "shared" / "emu" / "micropython-1.28.0-unix-i386")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _alloc_rows():
    """Heap bytes per step on the 64-bit unix port and on the 32-bit build (small ints end at 2**30 - 1
    there, as on a board: the figure that counts)."""
    rows = []
    for label, exe in (("64-bit unix port", None), ("32-bit build", _mpy32_binary())):
        if label.startswith("32") and exe is None:
            rows.append(("heap bytes allocated per step, " + label, "not found (PUMP_MPY32)", "0"))
            continue
        alloc = _micropython_json("mpy_alloc.py", exe)
        rows.append(("heap bytes allocated per step, %s (%d steps; %d with a bolus on top)" % (
            label, alloc["steps"], alloc["bolus_steps"]),
            "%d / %d" % (alloc["allocated_bytes"], alloc["bolus_allocated_bytes"]), "0"))
    return rows


def _pico_mpy_bytes():
    import re
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy" / "build.py"), "pico"], capture_output=True,
                         text=True, timeout=600, cwd=str(ROOT))
    return int(re.search(r"^total \(\d+ files\)\s+(\d+)", out.stdout, re.M).group(1))


def _wakeup_ratio(programme, fault=None, days=3):
    """Wake-ups over the minimum needed (one per step, per tone edge, per housekeeping pass)."""
    from boards.sim.board import Simulation
    sim = Simulation()
    sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    sim.mock_pump.fill(20_000_000_000)
    sim.request("program", **programme)
    sim.run_until_s(3600)
    if fault:
        sim.request("sim.fault", fault=fault)
        sim.run_until_s(7200)
    pump = sim.pump
    before = (pump.wakeups, sim.mock_pump.pulses, sim.buzzer.count, pump.housekeeping_runs)
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + days * DAY)
    wakes, steps, tones, house = (a - b for a, b in zip(
        (pump.wakeups, sim.mock_pump.pulses, sim.buzzer.count, pump.housekeeping_runs), before))
    return wakes / days, (steps + tones + house) / days


# --- cost per step against a floor loop (issue 16) ----------------------------------------------------

FLOOR_STEPS = 3_000_000
RATIO_GOAL = 20           # issue 16: the 7-year scenario's cost per step at most 20 x the floor
SEVEN_YEARS_GOAL_S = 60


def _cpu_s(cmd):
    """(CPU seconds, user + system, of the process running cmd; its stdout), from os.wait4."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), err.decode(errors="replace")[-500:]))
    return usage.ru_utime + usage.ru_stime, out.decode()


def floor_us(kind, n=FLOOR_STEPS, repeat=3):
    """CPU us per pass of the floor loop (tools/bench/mpy_floor.py) on MicroPython: the median of
    `repeat` runs of n passes, each less the same script's start-up (n = 0)."""
    exe = micropython_binary()
    script = str(BENCH / "mpy_floor.py")
    start_s = min(_cpu_s([exe, script, "0", kind])[0] for _ in range(repeat))
    runs = sorted(_cpu_s([exe, script, str(n), kind])[0] for _ in range(repeat))
    return (runs[repeat // 2] - start_s) / n * 1e6


def _instructions(script_args):
    """Instructions the MicroPython process executes for `script_args` (valgrind's callgrind: a count,
    not a time, so the same on a busy machine as on an idle one); and its stdout."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", micropython_binary()]
    proc = subprocess.run(cmd + script_args, capture_output=True, text=True, cwd=str(ROOT), timeout=900)
    if proc.returncode != 0:
        raise RuntimeError("callgrind failed: %s" % proc.stderr[-500:])
    refs = [ln for ln in proc.stderr.splitlines() if "refs:" in ln]
    return int(refs[-1].split("refs:")[1].replace(",", "").strip()), proc.stdout


def instruction_rows():
    """Rows: instructions per floor pass and per step of steady therapy (tools/bench/mpy_days.py),
    each the difference of two runs of different lengths, and their ratio. Empty without valgrind."""
    try:
        subprocess.run(["valgrind", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return [("instructions per step (callgrind)", "valgrind not installed", "-")]
    floor = str(BENCH / "mpy_floor.py")
    days = str(BENCH / "mpy_days.py")
    f0, _ = _instructions([floor, "0", "bare"])
    f1, _ = _instructions([floor, "200000", "bare"])
    d1, out1 = _instructions([days, "1"])
    d3, out3 = _instructions([days, "3"])
    h1, hout1 = _instructions([str(BENCH / "mpy_hal_floor.py"), "1"])
    h3, hout3 = _instructions([str(BENCH / "mpy_hal_floor.py"), "3"])
    run1, run3 = json.loads(out1), json.loads(out3)
    steps = run3["steps"] - run1["steps"]
    per_floor = (f1 - f0) / 200000
    per_step = (d3 - d1) / steps
    per_hal = (h3 - h1) / (int(hout3) - int(hout1))
    return [
        ("floor pass, instructions (callgrind; the floor loop above, bare)", "%.0f" % per_floor, "-"),
        ("  the HAL calls of a step's wake-up alone, on the mocks (tools/bench/mpy_hal_floor.py)",
         "%.0f instructions = %.1f x the floor" % (per_hal, per_hal / per_floor), "-"),
        ("a step of steady therapy (400 mcg/day: a wake-up each, housekeeping every 60 s on %.0f %% of them)"
         % (100.0 * (run3["housekeeping"] - run1["housekeeping"]) / steps),
         "%.0f instructions = %.1f x the floor" % (per_step, per_step / per_floor),
         "<= %d x: %s" % (RATIO_GOAL, "met" if per_step / per_floor <= RATIO_GOAL else "NOT met")),
    ]


def pico_rows():
    """Rows: the floor and a step of steady therapy on the emulated Pico (tools/emu/wakeup.py), timed by
    the board's own microsecond timer; one row saying why when the emulator is unavailable."""
    repo_path.use("tools/emu")
    import pico
    import wakeup
    reason = pico.unavailable()
    if reason:
        return [("emulated Pico: a step against the floor", "unavailable: " + reason, "-")]
    m = wakeup.measure()
    if "error" in m:
        return [("emulated Pico: a step against the floor", "failed on the board: " + m["error"], "-")]
    ratio = m["step_us"] / m["floor_us"]
    return [
        ("emulated Pico (RPI_PICO image on rp2040js, its timer; timing not calibrated: read the ratio): floor",
         "%.2f us/pass" % m["floor_us"], "-"),
        ("  a step of steady therapy (%d steps, %d wake-ups, %d housekeeping passes; the sim's pump on the "
         "board)" % (m["steps"], m["wakeups"], m["housekeeping"]),
         "%.1f us = %.1f x the floor" % (m["step_us"], ratio),
         "<= %d x: %s" % (RATIO_GOAL, "met" if ratio <= RATIO_GOAL else "NOT met")),
    ]


def seven_years():
    """longrun_7y_baclofen on MicroPython through pumpctl's runner: the report, and the CPU seconds of
    the simulator process (the MicroPython that runs the firmware) and of this host process."""
    data = scenario_mod.load(ROOT / "scenarios" / "longrun_7y_baclofen.json")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    report = Runner(data, interp="micropython").run()   # waits for the simulator to exit
    wall = time.monotonic() - start
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    sim_cpu = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
    host_cpu = (own_after.ru_utime + own_after.ru_stime) - (own.ru_utime + own.ru_stime)
    return report, sim_cpu, host_cpu, wall


def machine():
    """The machine the figures come from: CPU model, cores, load, and the MicroPython that ran."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    query = "import sys; print('.'.join(str(v) for v in sys.implementation.version), sys.version.split('; ')[-1])"
    version = subprocess.run([micropython_binary(), "-c", query], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    load = "%.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else "?"
    return "%s, %d cores, load %s (1 min), %s, MicroPython %s" % (
        model, os.cpu_count() or 0, load, platform.system(), version.replace("MicroPython ", "build "))


def floor_rows():
    """Rows (quantity, measured, goal): the floor, the 7-year scenario per step against it, its CPU time."""
    bare = floor_us("bare")
    mock = floor_us("mock")
    report, sim_cpu, host_cpu, wall = seven_years()
    steps = report["steps"]
    per_step = sim_cpu / steps * 1e6
    ratio = per_step / bare
    return [
        ("floor: a loop that advances a clock, adds to two counters, calls Stepper.step() (counts)",
         "%.3f us/step" % bare, "-"),
        ("  the same with the simulator's MockPump.step() (the mock's physics of one pulse)",
         "%.3f us/step (%.1f x the floor)" % (mock, mock / bare), "-"),
        ("longrun_7y_baclofen: %d steps, %d wake-ups; CPU per step (MicroPython process)"
         % (steps, report["wakeups"]), "%.2f us/step = %.1f x the floor" % (per_step, ratio),
         "<= %d x: %s" % (RATIO_GOAL, "met" if ratio <= RATIO_GOAL else "NOT met")),
        ("  CPU seconds for the 7 years (MicroPython process; the host runner apart)",
         "%.1f s (+ %.1f s host; %.1f s wall)" % (sim_cpu, host_cpu, wall),
         "< %d s: %s" % (SEVEN_YEARS_GOAL_S, "met" if sim_cpu < SEVEN_YEARS_GOAL_S else "NOT met")),
    ] + instruction_rows() + pico_rows()


def budget_rows():
    """Issue 8's budgets, each beside its figure (a test fails only on a gross breach)."""
    rows = []
    rows.extend(_alloc_rows())
    size = _pico_mpy_bytes()
    rows.append((".mpy size, whole pico build (information: RAM is the budget)", "%d B (%.1f KB)" % (size, size / 1024),
                 "-"))
    for name, programme, fault in (("500 mcg/day (5000 steps/day)", {"mode": "continuous", "dose_mcg_day": 500},
                                    None),
                                   ("minimum rate (960 steps/day)", {"mode": "minimum"}, None),
                                   ("critical alarm sounding", {"mode": "continuous", "dose_mcg_day": 500},
                                    "occlusion")):
        wakes, needed = _wakeup_ratio(programme, fault)
        rows.append(("wake-ups/day, " + name, "%.0f of %.0f needed (x%.3f)" % (wakes, needed, wakes / needed),
                     "<= x1.05"))
    return rows


def table(title, header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, header))
    print("\n" + title)
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))


def _ram_table(args):
    import cpython_heap_run
    table("RAM, 30 days of therapy, MicroPython unix port (64-bit: objects about twice a board's)",
          ("quantity", "value", "budget"), cpython_heap_run.bench_rows(30, find_min=not args.quick))


def _flash_table(args):
    import cpython_heap_run
    days = 3 if args.quick else 30
    table("Heap with the code in flash (ROMFS, as in a frozen image), %d days of therapy, 32-bit MicroPython "
          "build (the board's object sizes; goal of issue 15)" % days,
          ("quantity", "measured", "budget"), cpython_heap_run.bench_rows_flash32(days))


def _pico_table(args):
    repo_path.use("tools/emu")
    import heap as pico_heap
    table("Heap on the emulated Pico (RPI_PICO v1.28 image, 32-bit; goal of issue 15)",
          ("quantity", "measured", "budget"), pico_heap.bench_rows())


def _rtt_table(args):
    from pumpctl.rtt import measure_rtt
    rtt = measure_rtt(n=200, interp="micropython")
    table("Command round trip on the simulator (MicroPython, n=200)", ("command", "median", "p99"),
          [("status (public)", "%.3f ms" % rtt["status_median_ms"], "%.3f ms" % rtt["status_p99_ms"]),
           ("signed command", "%.3f ms" % rtt["signed_median_ms"], "%.3f ms" % rtt["signed_p99_ms"])])


def _days(args):
    return 30 if args.quick else 365


# the tables in the order printed: name (for --only) -> print it
TABLES = {
    "budgets": lambda args: table("Budgets (issue 8)", ("quantity", "measured", "budget"), budget_rows()),
    "floor": lambda args: table("Cost per step against a floor loop, CPU time (issue 16), on " + machine(),
                                ("quantity", "measured", "goal"), floor_rows()),
    "ram": _ram_table,
    "flash": _flash_table,
    "pico": _pico_table,
    "dose": lambda args: table(
        "Dose error after %d simulated days (MicroPython unix port; budget: within 1 step)" % _days(args),
        ("mode", "error (steps)", "error (%)", "wake-ups/day", "steps/day", "wall"), mode_rows(_days(args))),
    "detect": lambda args: table("Detection bound: fault injected -> alarm (time, volume moved meanwhile)",
                                 ("condition", "minimum rate 48 uL/day", "typical 250 uL/day"), detection_rows()),
    "wear": lambda args: table("Flash wear at 500 mcg/day", ("quantity", "value", "budget"), wear_rows()),
    "boot": lambda args: table(
        "Boot (settings + journal + 200 log records) to the first step of resumed therapy, real time",
        ("interpreter", "boot", "first step"), boot_rows()),
    "rtt": _rtt_table,
    "speed": lambda args: table("Wall time per simulated year, continuous 500 mcg/day (5000 steps/day)",
                                ("interpreter", "wall s / simulated year"), speed_rows(min(_days(args), 90))),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description="make bench: speed, exactness and memory figures")
    parser.add_argument("--quick", action="store_true", help="30 days instead of 365 (a smoke run)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="only these tables: " + ", ".join(TABLES))
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        parser.error("unknown table %s (choose from %s)" % (", ".join(unknown), ", ".join(TABLES)))
    for name in names:
        TABLES[name](args)


if __name__ == "__main__":
    main()
