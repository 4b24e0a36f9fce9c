"""Simulator board: the firmware wired to host mocks on a virtual clock.

Pin map: none. The mock pump stands where the STEP/DIR/EN driver and the motor would be.
`Simulation` is used by the tests directly and by boards/sim/main.py behind a stdin/stdout pipe.
"""

import json

from boards.sim.bench import SimBench
from firmware import roles
from firmware.app import Config, Pump
from firmware.authstore import dev_key
from firmware.hmac_sha256 import Hmac
from hal.interfaces import Hardware
from hal.mock.clock import VirtualClock
from hal.mock.io import MockBattery, MockBuzzer, MockWatchdog
from hal.mock.line import MockLine
from hal.mock.pump import MockPump, MockRotation
from hal.mock.serial import MockSerial
from hal.mock.storage import MockFlash

SIM_HOUSEKEEPING_MS = 60_000      # the sim's watchdog allows a long sleep; boards use ~4 s
MAX_NOTICES = 4000                # notices kept by Simulation (the latest; older ones are counted, not kept)


def dev_keys():
    """The simulator's development keys, one per role, derived from a PUBLIC seed (firmware/authstore.py
    DEV_SEED): anyone can sign for a simulator. For the simulator only: a board refuses them and is
    provisioned with random keys (pumpctl keys generate / provision, docs/protocol.md)."""
    return {role: dev_key(role) for role in roles.ROLES}


class Simulation:
    """Mocks + firmware. start_ticks lets tests start the clock near the 2**30 wrap.

    Bench realism of the mocks (all integers, all off by default): noise_ppm and noise_seed (each
    pulse moves the true step +/- a seeded uniform error), wear_ppm_per_ml (tubing wear), both in
    hal/mock/pump.py; battery_drain_uv_per_day (the battery voltage falls linearly with the virtual
    clock, hal/mock/io.py MockBattery). Ranges: boards/sim/bench.py REALISM_LIMITS."""

    def __init__(self, start_ticks=0, capacity_nl=20_000_000, true_pl_per_step=50_000,
                 step_pl=50_000, housekeeping_ms=SIM_HOUSEKEEPING_MS, rotation=1, pressure=1, provision=1,
                 noise_ppm=0, noise_seed=1, wear_ppm_per_ml=0, battery_drain_uv_per_day=0, storage=None,
                 evict_handlers=0):
        self.clock = VirtualClock(start_ticks=start_ticks)
        self.mock_pump = MockPump(true_pl_per_step=true_pl_per_step,
                                  reservoir_capacity_pl=capacity_nl * 1000, noise_ppm=noise_ppm,
                                  noise_seed=noise_seed, wear_ppm_per_ml=wear_ppm_per_ml)
        self.noise_seed = noise_seed   # the mock's last seed (sim.state and sim.pump report it)
        self.serial = MockSerial()
        self.buzzer = MockBuzzer(self.clock)
        self.watchdog = MockWatchdog(self.clock, timeout_ms=2 * housekeeping_ms)
        self.flash = storage if storage is not None else MockFlash()   # another Storage: RAM budget runs
        self.battery = MockBattery(self.clock, drain_uv_per_day=battery_drain_uv_per_day)
        self.line = MockLine(self.mock_pump)
        self.hw = Hardware(
            clock=self.clock, stepper=self.mock_pump, serial=self.serial, buzzer=self.buzzer,
            battery=self.battery, watchdog=self.watchdog,
            storage=self.flash, pressure=self.line if pressure else None,
            rotation=MockRotation(self.mock_pump) if rotation else None, bench=SimBench(self),
            board="sim", serial_no="SIM-0001")
        self._board_config = (capacity_nl, step_pl, housekeeping_ms, bool(evict_handlers))
        self.pending = None           # ("power_cycle", off_s, rtc_lost) or ("hang",): done after the loop pass
        self.resets = 0
        self.pump = Pump(self.hw, self._config())
        if provision and not self.pump.protocol.auth.provisioned():
            self.pump.protocol.auth.install(dev_keys(), "sim")   # provision=0: a factory-new pump
        self.notices = []             # the latest MAX_NOTICES notices (bounded: runs of years)
        self.notices_dropped = 0
        self._req_id = 0

    def _config(self):
        """Board defaults a fresh boot starts from (the settings on flash override them)."""
        capacity_nl, step_pl, housekeeping_ms, evict_handlers = self._board_config
        config = Config()
        config.reservoir_capacity_nl = capacity_nl
        config.step_pl = step_pl
        config.housekeeping_ms = housekeeping_ms
        config.evict_handlers = evict_handlers   # the simulator keeps command modules loaded (speed) unless
                                                 # asked to drop them as a board does (tests_host/fw/test_lazy.py)
        return config

    def power_cycle(self, off_s=0, cause="power_on", rtc_lost=False):
        """Cut the power now (RAM, serial buffers and the running firmware are gone; flash, the mock
        pump and the virtual clock stay), keep it off for off_s, boot again."""
        self.serial.drop_input()      # bytes already sent stay sent; unread input is lost
        self.mock_pump.enable(False)
        self.buzzer.off()
        self.clock.advance_ms(off_s * 1000)
        if self.clock.horizon_ms is not None and self.clock.horizon_ms < self.clock.elapsed_ms:
            self.clock.horizon_ms = self.clock.elapsed_ms
        if rtc_lost:
            self.clock.lose_rtc()
        self.resets += 1
        self.pump = None              # the old firmware's RAM is gone before the new one boots
        self.pump = Pump(self.hw, self._config(), reset_cause=cause)

    def hang(self):
        """The main loop hangs: nothing feeds the watchdog, which resets the board when it expires."""
        self.clock.advance_ms(self.watchdog.timeout_ms + 1)
        assert self.watchdog.expired()
        self.power_cycle(0, cause="watchdog")

    def loop_pass(self):
        """One main-loop pass, then any power cut or hang the bench asked for during it."""
        self.pump.loop_once()
        if self.pending is not None:
            self._carry_out_pending()

    def _carry_out_pending(self):
        pending = self.pending
        self.pending = None
        if pending[0] == "hang":
            self.hang()
        else:
            self.power_cycle(pending[1], rtc_lost=pending[2])

    def run_to_horizon(self):
        """Run the main loop until the virtual clock stands at its horizon, serving what is due
        at that instant too."""
        clock = self.clock
        while True:
            horizon = clock.horizon_ms
            if horizon is not None and clock.elapsed_ms < horizon:
                self.run_short_of_horizon()
                continue
            self.pump.loop_once()        # at the horizon (or none): one pass per check
            if self.pending is not None:
                self._carry_out_pending()
            if horizon is not None and not self.serial.any() and not self.pump.reader.has_line():
                return

    def run_short_of_horizon(self):
        """The simulator's hot loop: main-loop passes while the clock is short of its horizon and
        no bench verb is pending (a command served meanwhile may move the horizon or ask for a power
        cut)."""
        clock = self.clock
        horizon = clock.horizon_ms
        pump = self.pump
        while clock.elapsed_ms < horizon and self.pending is None and clock.horizon_ms == horizon:
            pump.loop_once()
        if self.pending is not None:
            self._carry_out_pending()

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
        excess = len(self.notices) - MAX_NOTICES
        if excess > 0:                # drop the oldest, in place (holders of the list keep seeing it)
            del self.notices[:excess]
            self.notices_dropped += excess
        return reply

    def request(self, cmd, **args):
        """Send one request at the present virtual time; return its reply (notices are kept).
        A command that needs authentication goes out signed as the clinician (development key)."""
        return self.request_raw(self.frame(cmd, args, None if roles.is_public(cmd) else roles.CLINICIAN))

    def request_as(self, role, cmd, **args):
        """request() signed as `role` (None: unsigned)."""
        return self.request_raw(self.frame(cmd, args, role))

    def frame(self, cmd, args, role=None, ctr=None, key=None):
        """The bytes of one request line: unsigned (role None), or BODY~MAC signed as `role` with its
        next counter (or `ctr`) under the development key (or `key`)."""
        self._req_id += 1
        req = {"id": self._req_id, "cmd": cmd}
        req.update(args)
        if role is None:
            return (json.dumps(req) + "\n").encode()
        req["role"] = role
        req["ctr"] = self.pump.protocol.auth.last_ctr(role) + 1 if ctr is None else ctr
        body = json.dumps(req).encode()
        return body + b"~" + Hmac(key or dev_key(role)).hexdigest(body) + b"\n"

    def request_raw(self, data):
        """Send raw bytes; return the last reply among the lines they produced (or None)."""
        self.serial.push(data)
        if self.clock.horizon_ms is None or self.clock.horizon_ms < self.clock.elapsed_ms:
            self.clock.horizon_ms = self.clock.elapsed_ms
        self.run_to_horizon()
        return self._take_lines()
