"""Simulator board: the firmware wired to host mocks on a virtual clock.

Pin map: none. The mock pump stands where the STEP/DIR/EN driver and the motor would be.
`Simulation` is used by the tests directly and by boards/sim/main.py behind a stdin/stdout pipe.
"""

import json

from boards.sim.bench import SimBench
from firmware.app import Config, Pump
from hal.interfaces import Hardware
from hal.mock.clock import VirtualClock
from hal.mock.io import MockBattery, MockButton, MockBuzzer, MockLed, MockWatchdog
from hal.mock.line import MockLine
from hal.mock.pump import MockPump, MockRotation
from hal.mock.serial import MockSerial
from hal.mock.storage import MockFlash

SIM_HOUSEKEEPING_MS = 60_000      # the sim's watchdog allows a long sleep; boards use ~4 s


class Simulation:
    """Mocks + firmware. start_ticks lets tests start the clock near the 2**30 wrap."""

    def __init__(self, start_ticks=0, capacity_nl=20_000_000, true_pl_per_step=50_000,
                 step_pl=50_000, housekeeping_ms=SIM_HOUSEKEEPING_MS, rotation=1, pressure=1):
        self.clock = VirtualClock(start_ticks=start_ticks)
        self.mock_pump = MockPump(true_pl_per_step=true_pl_per_step,
                                  reservoir_capacity_pl=capacity_nl * 1000)
        self.serial = MockSerial()
        self.buzzer = MockBuzzer(self.clock)
        self.watchdog = MockWatchdog(self.clock, timeout_ms=2 * housekeeping_ms)
        self.flash = MockFlash()
        self.battery = MockBattery(self.clock)
        self.line = MockLine(self.mock_pump)
        self.hw = Hardware(
            clock=self.clock, stepper=self.mock_pump, serial=self.serial, buzzer=self.buzzer,
            led=MockLed(), button=MockButton(), battery=self.battery, watchdog=self.watchdog,
            storage=self.flash, pressure=self.line if pressure else None,
            rotation=MockRotation(self.mock_pump) if rotation else None, bench=SimBench(self),
            board="sim", serial_no="SIM-0001")
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
