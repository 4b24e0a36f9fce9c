"""The heap-budget scenario, run INSIDE MicroPython (tools/bench/mpy_heap_boot.py on the unix port),
launched and read by tools/bench/cpython_heap_run.py.

Days of baclofen therapy on the simulator board (boards/sim/board.py, imported, not copied) with its
mocks for clock, pump, line, battery and buzzer, but with the board's real storage driver
(hal.mcu.storage.FlashStorage) on a host directory, so the flash contents live in files, as they
live in flash on a board, and not in the heap.

Timeline (fractions of the run, so a 3-day test run takes the same paths as the 30-day one): refill
20 mL baclofen 2000 mcg/mL and continuous 500 mcg/day at 0; then status, a clinician bolus, a flex
programme, demand limits and a patient demand, a log read, a power cycle (boot from the files),
continuous again, status; a final status at the end, which must show no alarm and no safe state.

The live heap is gc.mem_alloc() right after gc.collect(). It is weighed at each stage, after each
chunk of simulated time, and (sample_every N > 0) after every N-th main-loop pass. With N = 1,
gc.mem_alloc() right after each pass, before that collection, is the live heap plus what the pass
allocated ("pass_peak", the figure the emulated Pico's row takes: tools/emu/heap_main.py).

Layout (argv[4]): "sim", the simulator's defaults (command modules imported when first used, replies
built as one string in the mock serial's buffer); "board", as a board with frozen code runs: every
on-demand module imported before the pump is built and kept (boards/start.py build(), frozen code),
with the board-side modules (BOARD_MODULES), weighed as stage "board code imported" before the
simulator is imported, and the replies streamed out of the heap as hal/mcu/serial.py does (here into
a host file the sim reads its replies back from, as the bytes of a board leave over the wire).

Interned names: `micropython.qstr_info()` is printed after each stage's weighing, after a line
`QSTR <stage>`, for the host to read (the strings' table, which a frozen image keeps in flash).
Prints one line `HEAPRUN {json}`. A MemoryError is caught and reported (`"ok": false`).
"""

import gc
import json
import sys

import micropython

DAY = 86400
_FLEX_STEPS = [{"start_s": 0, "dose_mcg_day": 400}, {"start_s": 8 * 3600, "dose_mcg_day": 600},
               {"start_s": 20 * 3600, "dose_mcg_day": 300}]
_DEMAND = {"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 4}
# layout "board": the board-side modules of boards/manifest_common.py besides firmware/ that import
# without `machine` (boards.mcu_board and boards.<board>.board need it: not in the run)
BOARD_MODULES = ("hal.mcu.analog", "hal.mcu.boot", "hal.mcu.buzzer", "hal.mcu.clock", "hal.mcu.rotation",
                 "hal.mcu.serial", "hal.mcu.stepper", "hal.mcu.storage", "hal.mcu.watchdog", "boards.bench",
                 "boards.start")


def live():
    gc.collect()
    return gc.mem_alloc()


def _host_flash_class():
    from hal.mcu.storage import FlashStorage

    class HostFlash(FlashStorage):
        """The board's storage driver on a host directory, with MockFlash's counters."""

        def __init__(self, directory):
            FlashStorage.__init__(self, directory)
            self.fail_writes = False     # read by the sim's bench (flash_fail fault); not used here
            self.bytes_written = 0
            self.writes = 0

        def write(self, name, data):
            FlashStorage.write(self, name, data)
            self.bytes_written += len(data)
            self.writes += 1

    return HostFlash


def _timeline(days):
    """[(t_s, stage, callable(sim) -> reply)] at fractions of the run."""
    end = days * DAY

    def at(frac):
        return int(end * frac) // 60 * 60

    def req(cmd, **args):
        return lambda sim: sim.request(cmd, **args)

    def demand(sim):
        return sim.request_as("patient", "demand")

    def power_cycle(sim):
        # RAM is lost at a power cut: Simulation.power_cycle drops the running firmware before the
        # new one boots, so two firmware object graphs never share the heap (no board does that)
        sim.power_cycle(600)
        return {"ok": True}

    return [
        (at(0.25), "status", req("status")),
        (at(1 / 3), "bolus", req("bolus", dose_mcg=50, duration_s=3600)),
        (at(0.45), "flex", req("program", mode="flex", cycle="day", steps=_FLEX_STEPS)),
        (at(0.55), "set demand", req("set", demand=_DEMAND)),
        (at(0.55) + 3600, "demand", demand),
        (at(0.65), "log", req("log", since=0, limit=64)),
        (at(0.7), "power cycle", power_cycle),
        (at(0.8), "continuous", req("program", mode="continuous", dose_mcg_day=500)),
        (at(0.9), "status", req("status")),
    ]


def _check(reply, what):
    if reply is None or not reply.get("ok"):
        raise RuntimeError("%s refused: %r" % (what, reply))
    return reply


def _do(run, sim, act, what):
    """act(sim) must succeed. The reply (the sim's host-side parse of the firmware's answer) dies
    here, in this frame: the scenario's generator frame must not keep it alive while it is weighed."""
    run.host_acted = True
    _check(act(sim), what)


class _Wire:
    """The serial output of a board: streamed, leaving the heap as it is written (into a host file
    here); take() reads back what was written since the last take (the host side of the wire)."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")

    def write(self, data):
        self.f.write(data)

    def write_json(self, obj):
        json.dump(obj, self.f)
        self.f.write(b"\n")

    def pending(self):
        return self.f.tell()

    def take(self):
        self.f.close()
        with open(self.path, "rb") as f:
            data = f.read()
        self.f = open(self.path, "wb")
        return data


def _stream_serial(serial, path):
    """Route the sim's serial output through a _Wire (instance attributes: the Pump holds the same
    MockSerial through its Hardware, before and after a power cycle)."""
    wire = _Wire(path)
    wire.write(serial.take_output())      # what the boot wrote, still to be read by the host
    serial.write = wire.write
    serial.write_json = wire.write_json
    serial.pending_output = wire.pending
    serial.take_output = wire.take


class Run:
    """The scenario as steps: step() runs up to the next point where the heap is to be weighed and
    weigh() weighs it (from main(), outside the scenario's frames); main() alternates them."""

    def __init__(self, argv, out):
        """argv: days store_dir sample_every [chunk_s [layout]]."""
        self.days = int(argv[0])
        self.store_dir = argv[1]
        self.sample_every = int(argv[2])
        self.chunk_s = int(argv[3]) if len(argv) > 3 else 3600
        self.layout = argv[4] if len(argv) > 4 else "sim"
        if self.layout not in ("sim", "board"):
            raise ValueError("unknown layout " + self.layout)
        self.out = out
        out.update({"days": self.days, "layout": self.layout, "t_s": 0, "ok": False, "passes": 0,
                    "peak_live": 0, "peak_live_t_s": 0, "peak_live_stage": "", "pass_peak": 0,
                    "pass_peak_t_s": 0, "pass_peak_stage": ""})
        out.setdefault("stage_heap", {})
        out["stage_peak_live"] = {}
        out["stage_pass_peak"] = {}
        self.stage = "boot"
        self.label = None
        self.host_acted = False       # the harness allocated since the last collection (a request)
        self._steps = self._run()

    def step(self):
        """Run on to the next weighing point; False when the run is over (done or failed)."""
        out = self.out
        try:
            self.label = next(self._steps)
            return True
        except StopIteration:
            out["ok"] = True
        except MemoryError:
            out["error"] = "MemoryError"
        except Exception as exc:  # reported to the host, which fails the run
            out["error"] = "%s: %s" % (type(exc).__name__, exc)
        self._steps = None
        return False

    def weigh(self):
        label = self.label
        self.label = None
        if label is None:
            return
        value = live()
        if label[0] == "=":               # a stage of the run
            self.out["stage_heap"][label[1:]] = value
            sys.stdout.write("QSTR %s\n" % label[1:])
            micropython.qstr_info()       # one line "qstr pool: ..." (allocates nothing)
        self._peak(value)

    def _peak(self, value):
        out = self.out
        if value > out["peak_live"]:
            out["peak_live"] = value
            out["peak_live_t_s"] = out["t_s"]
            out["peak_live_stage"] = self.stage
        if value > out["stage_peak_live"].get(self.stage, 0):
            out["stage_peak_live"][self.stage] = value

    def _pass_peak(self, used, t_s):
        out = self.out
        if used > out["pass_peak"]:
            out["pass_peak"] = used
            out["pass_peak_t_s"] = t_s
            out["pass_peak_stage"] = self.stage
        if used > out["stage_pass_peak"].get(self.stage, 0):
            out["stage_pass_peak"][self.stage] = used

    def finish(self):
        out = self.out
        out["memory_error"] = "MemoryError" in out.get("error", "")
        gc.collect()
        out["final_alloc"] = gc.mem_alloc()
        out["final_free"] = gc.mem_free()
        out["modules"] = sorted(sys.modules)      # after the weighing: the list is no firmware's
        out["mem_peak_counter"] = micropython.mem_peak() if hasattr(micropython, "mem_peak") else None
        sys.stdout.write("HEAPRUN ")
        try:
            json.dump(out, sys.stdout)        # streamed: the report needs no large string of its own
        except MemoryError:                   # a heap too small even for that: what is known, in pieces
            sys.stdout.write('{"ok": false, "error": "MemoryError", "memory_error": true, "stage_heap": {')
            sep = ""
            for name in out["stage_heap"]:
                sys.stdout.write(sep)
                json.dump(name, sys.stdout)
                sys.stdout.write(": %d" % out["stage_heap"][name])
                sep = ", "
            sys.stdout.write("}}")
        sys.stdout.write("\n")
        return 0 if out["ok"] else 1

    def _sampled(self, sim):
        """Weigh the live heap after every sample_every-th main-loop pass: the running Pump's
        loop_once is wrapped (an instance attribute; again after every power cycle, which makes a
        new Pump). The sim has no hook for this. With sample_every 1, also the heap in use right
        after each pass, before that collection: the live heap plus the pass's allocations (the
        previous pass ended with a collection; the first pass after a host action, e.g. a request's
        framing, starts with one)."""
        if not self.sample_every:
            return
        plain_pass = sim.pump.loop_once
        out = self.out
        every_pass = self.sample_every == 1

        def sampled_pass():
            if every_pass and self.host_acted:
                gc.collect()
                self.host_acted = False
            plain_pass()
            out["passes"] += 1
            if out["passes"] % self.sample_every == 0:
                out["t_s"] = sim.clock.elapsed_ms // 1000
                if every_pass:
                    self._pass_peak(gc.mem_alloc(), out["t_s"])
                self._peak(live())

        sim.pump.loop_once = sampled_pass

    def _final_status(self, sim):
        status = _check(sim.request("status"), "final status")
        if status["alarms"] or status["safe_state"]:
            raise RuntimeError("pump not healthy at the end: alarms %r, safe state %r"
                               % (status["alarms"], status["safe_state"]))
        for key in ("delivered_pl", "steps", "wakeups", "therapy"):
            self.out[key] = status[key]
        return status

    def _run(self):
        """The scenario; yields "=stage" or "sample" where the heap is to be weighed."""
        out = self.out
        yield "=runner imported"
        if self.layout == "board":                # frozen code: boards/start.py loads it all at boot
            from firmware import lazy
            lazy.preload()
            from firmware import app  # noqa: F401 - the rest of the firmware, as start.build()
            for name in BOARD_MODULES:
                __import__(name)
            yield "=board code imported"
        from boards.sim import board as sim_board
        yield "=sim board imported"
        host_flash = _host_flash_class()          # imports hal.mcu.storage, the board's driver
        yield "=code imported"
        # the board's storage driver on host files stands in for the sim's in-heap MockFlash
        sim = sim_board.Simulation(storage=host_flash(self.store_dir))
        if self.layout == "board":
            _stream_serial(sim.serial, self.store_dir + "/../wire-" + self.store_dir.split("/")[-1])
        yield "=booted (fresh pump)"
        if self.days == 0:                        # import and boot only
            return
        self._sampled(sim)
        self.stage = "setup"
        _do(self, sim, lambda s: s.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20), "refill")
        sim.mock_pump.fill(20_000_000_000)
        _do(self, sim, lambda s: s.request("program", mode="continuous", dose_mcg_day=500), "program")
        yield "=therapy running"
        self.stage = "continuous"
        now = 0
        notices = 0
        end = self.days * DAY
        for t_s, stage, act in _timeline(self.days) + [(end, "end", None)]:
            while now < t_s:
                now = min(t_s, now + self.chunk_s)
                sim.run_until_s(now)
                notices += len(sim.notices)
                sim.notices = []      # host side: on a board the notices have left over the serial line
                out["t_s"] = now
                yield "sample"
            if act is not None:
                self.stage = stage
                _do(self, sim, act, stage)
                if stage == "power cycle":
                    self._sampled(sim)        # a new Pump: wrap its loop_once too
                notices += len(sim.notices)
                sim.notices = []
                yield "sample"
        _do(self, sim, self._final_status, "final status")
        if self.sample_every and not out["passes"]:
            raise RuntimeError("the per-pass sampling hook never ran (does boards/sim/board.py still call "
                               "pump.loop_once()?)")
        out.update({"notices": notices, "flash_writes": sim.flash.writes,
                    "flash_bytes_written": sim.flash.bytes_written, "mock_moved_pl": sim.mock_pump.moved_pl,
                    "resets": sim.resets})
        yield "=end"
        sim.pump = None               # the end: drop the firmware's object graph to weigh it
        yield "=end, pump dropped"
        out["pump_data"] = out["stage_heap"]["end"] - out["stage_heap"]["end, pump dropped"]


def main(argv, out):
    """Run the scenario (see Run); prints `HEAPRUN {json}`; returns 0 or 1."""
    run = Run(argv, out)
    while run.step():
        run.weigh()
    return run.finish()
