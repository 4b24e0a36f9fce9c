"""Simulator board: the firmware wired to host mocks on a virtual clock.

Pin map: none. The mock pump stands where the STEP/DIR/EN driver and the motor would be.
`Simulation` is used by the tests directly and by boards/sim/main.py behind a stdin/stdout pipe.
"""

import json

from firmware import units
from firmware.app import Config, Pump
from firmware.errors import E_ARG_RANGE, E_UNKNOWN_CMD, CommandError
from hal.interfaces import Hardware
from hal.mock.clock import VirtualClock
from hal.mock.io import MockAnalog, MockButton, MockBuzzer, MockLed, MockWatchdog
from hal.mock.pump import MockPressure, MockPump, MockRotation
from hal.mock.serial import MockSerial
from hal.mock.storage import MockFlash

SIM_HOUSEKEEPING_MS = 60_000      # the sim's watchdog allows a long sleep; boards use ~4 s


class SimBench:
    """Bench commands of the simulator (`sim.*`): time control and the mock pump."""

    def __init__(self, sim):
        self._sim = sim

    def handle(self, pump, req):
        op = req["cmd"]
        sim = self._sim
        if op == "sim.run":
            until_ms = units.whole_int(req, "until_s", 0, 1 << 40) * 1000
            if until_ms < sim.clock.elapsed_ms:
                raise CommandError(E_ARG_RANGE, "until_s is in the past")
            sim.clock.horizon_ms = until_ms
            return {"until_s": until_ms // 1000}
        if op == "sim.state":
            state = sim.mock_pump.state()
            state["elapsed_ms"] = sim.clock.elapsed_ms
            state["sleeps"] = sim.clock.sleeps
            state["tones"] = len(sim.buzzer.changes)
            return state
        if op == "sim.fill":
            sim.mock_pump.fill(units.whole_int(req, "volume_nl", 0, 1 << 40) * 1000)
            return {"reservoir_pl": sim.mock_pump.reservoir_pl}
        if op == "sim.pump":
            if "true_pl_per_step" in req:
                sim.mock_pump.true_pl_per_step = units.whole_int(req, "true_pl_per_step", 1, 10_000_000)
            return sim.mock_pump.state()
        raise CommandError(E_UNKNOWN_CMD, "unknown bench command '%s'" % op[:40])


class Simulation:
    """Mocks + firmware. start_ticks lets tests start the clock near the 2**30 wrap."""

    def __init__(self, start_ticks=0, capacity_nl=20_000_000, true_pl_per_step=50_000,
                 step_pl=50_000, housekeeping_ms=SIM_HOUSEKEEPING_MS):
        self.clock = VirtualClock(start_ticks=start_ticks)
        self.mock_pump = MockPump(true_pl_per_step=true_pl_per_step,
                                  reservoir_capacity_pl=capacity_nl * 1000)
        self.serial = MockSerial()
        self.buzzer = MockBuzzer(self.clock)
        self.watchdog = MockWatchdog(self.clock, timeout_ms=2 * housekeeping_ms)
        self.flash = MockFlash()
        self.hw = Hardware(
            clock=self.clock, stepper=self.mock_pump, serial=self.serial, buzzer=self.buzzer,
            led=MockLed(), button=MockButton(), battery=MockAnalog(3000), watchdog=self.watchdog,
            storage=self.flash, pressure=MockPressure(self.mock_pump),
            rotation=MockRotation(self.mock_pump), bench=SimBench(self), board="sim", serial_no="SIM-0001")
        config = Config()
        config.reservoir_capacity_nl = capacity_nl
        config.step_pl = step_pl
        config.housekeeping_ms = housekeeping_ms
        self.pump = Pump(self.hw, config)
        self.notices = []
        self._req_id = 0

    def run_to_horizon(self):
        """Run the main loop until the virtual clock stands at its horizon, serving what is due
        at that instant too."""
        pump = self.pump
        clock = self.clock
        while True:
            was_at_horizon = clock.at_horizon()
            pump.loop_once()
            if was_at_horizon and not self.serial.any():
                return

    def run_until_s(self, t_s):
        """Run to virtual second t_s; keep the notices the firmware sent meanwhile."""
        self.clock.horizon_ms = t_s * 1000
        self.run_to_horizon()
        self._take_lines()

    def _take_lines(self):
        """Parse the firmware's output; notices are kept, the last reply is returned."""
        reply = None
        for line in self.serial.take_output().split(b"\n"):
            if not line:
                continue
            msg = json.loads(line)
            if "notice" in msg:
                self.notices.append(msg)
            else:
                reply = msg
        return reply

    def request(self, cmd, **args):
        """Send one request at the present virtual time; return its reply (notices are kept)."""
        self._req_id += 1
        req = {"id": self._req_id, "cmd": cmd}
        req.update(args)
        return self.request_raw((json.dumps(req) + "\n").encode())

    def request_raw(self, data):
        """Send raw bytes; return the last reply among the lines they produced (or None)."""
        self.serial.push(data)
        if self.clock.horizon_ms is None or self.clock.horizon_ms < self.clock.elapsed_ms:
            self.clock.horizon_ms = self.clock.elapsed_ms
        self.run_to_horizon()
        return self._take_lines()
