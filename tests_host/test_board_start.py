"""The shared board entry (boards/start.py, boards/<board>/main.py) on CPython with the fake `machine`
(tests_host/fakes/machine.py): in the field Ctrl-C on the link can never stop the pump or open the
REPL (issue 13 item 3), the REPL is reachable by safe boot or on the bench only, and the boot's reset
cause reaches the event log.
The emulated Pico shows the same on the real MicroPython image (tests_host/board/test_pico.py)."""

import ast
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "tests_host", "fakes")


@pytest.fixture
def fake_machine(monkeypatch):
    spec = importlib.util.spec_from_file_location("machine", os.path.join(FAKES, "machine.py"))
    machine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(machine)
    monkeypatch.setitem(sys.modules, "machine", machine)
    return machine


@pytest.fixture
def kbd(monkeypatch):
    """micropython.kbd_intr recorded: `calls` in order, `char` the interrupt character now
    (3 = Ctrl-C, MicroPython's default while main.py runs)."""
    import micropython

    class Kbd:
        char = 3
        calls = []

        def kbd_intr(self, c):
            self.calls.append(c)
            self.char = c
    k = Kbd()
    monkeypatch.setattr(micropython, "kbd_intr", k.kbd_intr, raising=False)
    return k


class _Board:
    HOUSEKEEPING_MS = 4000

    def __init__(self, kbd, reason=None, bench=False, broken=None):
        self._kbd = kbd
        self._reason = reason
        self._bench = bench
        self._broken = broken
        self.built_with_char = None

    def safe_boot_reason(self):
        return self._reason

    def bench_jumper_closed(self):
        return self._bench

    def make_hardware(self):
        self.built_with_char = self._kbd.char
        if self._broken is not None:
            raise self._broken
        return "hw"


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """time.sleep_ms (MicroPython's) recorded instead of slept."""
    import time
    slept = []
    monkeypatch.setattr(time, "sleep_ms", slept.append, raising=False)
    return slept


class _Pump:
    """Stands in for firmware.app.Pump: records how it was started and ends its loop with `stop`."""
    made = []

    def __init__(self, hw, config, reset_cause="power_on"):
        self.hw = hw
        self.housekeeping_ms = config.housekeeping_ms
        self.reset_cause = reset_cause
        _Pump.made.append(self)

    def run_forever(self):
        raise _Pump.stop


@pytest.fixture
def pump(monkeypatch):
    import firmware.app
    _Pump.made = []
    monkeypatch.setattr(firmware.app, "Pump", _Pump)
    return _Pump


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("second fault")])
def test_ctrl_c_is_off_while_the_pump_runs_and_a_loop_end_resets(fake_machine, kbd, pump, stop, sleeps):
    """In the field Ctrl-C is switched off before the hardware is built and stays off; if the loop ever
    ends (a KeyboardInterrupt was the old Ctrl-C path), the board resets after a pause instead of
    returning to the REPL on the pump's link."""
    from boards import start
    board = _Board(kbd)
    pump.stop = stop
    with pytest.raises(SystemExit, match="machine.reset"):
        start.run(board)
    assert kbd.calls == [-1] and kbd.char == -1
    assert board.built_with_char == -1, "Ctrl-C must be off before anything of the pump starts"
    assert fake_machine.resets == [1] and sleeps == [start.RESET_DELAY_MS]
    assert pump.made[0].housekeeping_ms == 4000


def test_a_pump_that_cannot_be_built_resets_in_the_field(fake_machine, kbd, pump, sleeps):
    """An exception while the hardware is built (before any watchdog) resets too: no REPL."""
    from boards import start
    board = _Board(kbd, broken=OSError(5, "EIO"))
    with pytest.raises(SystemExit, match="machine.reset"):
        start.run(board)
    assert kbd.char == -1 and fake_machine.resets == [1] and pump.made == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("fault")])
def test_on_the_bench_ctrl_c_stops_the_pump_and_opens_the_repl(fake_machine, kbd, pump, stop, sleeps):
    """Bench jumper closed: Ctrl-C is MicroPython's interrupt again (mpremote can take over: the way
    tools/deploy/deploy.py reaches a running pump); the pump's end reaches the REPL with its reason."""
    from boards import start
    board = _Board(kbd, bench=True)
    pump.stop = stop
    with pytest.raises(type(stop)):
        start.run(board)
    assert kbd.calls == [-1, 3] and board.built_with_char == 3
    assert fake_machine.resets == [] and sleeps == []


def test_safe_boot_leaves_the_repl_free(fake_machine, kbd, pump):
    """Button held (or /safe_boot): nothing is built, nothing resets, run() returns to the REPL."""
    from boards import start
    board = _Board(kbd, reason="button held at boot")
    assert start.run(board) is None
    assert board.built_with_char is None and pump.made == [] and fake_machine.resets == []


@pytest.mark.parametrize("cause, logged", [("PWRON_RESET", "power_on"), ("WDT_RESET", "watchdog"),
                                           ("HARD_RESET", "reset")])
def test_reset_cause_reaches_the_pump(fake_machine, kbd, pump, cause, logged):
    """A watchdog reset is logged as one (it was always "power_on" on a board)."""
    from boards import start
    fake_machine.reset_cause_state[0] = getattr(fake_machine, cause)
    pump.stop = RuntimeError("end")
    with pytest.raises(SystemExit):
        start.run(_Board(kbd))
    assert pump.made[0].reset_cause == logged


@pytest.mark.parametrize("board", ["pico", "esp32"])
def test_main_switches_ctrl_c_off_before_any_import_of_the_firmware(board):
    """main.py runs with Ctrl-C armed by MicroPython: its first statements switch it off, before the
    board module (and so anything slow) is imported."""
    with open(os.path.join(ROOT, "boards", board, "main.py")) as f:
        body = [n for n in ast.parse(f.read()).body
                if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert ast.unparse(body[0]) == "import micropython"
    assert ast.unparse(body[1]) == "micropython.kbd_intr(-1)"
    assert ast.unparse(body[-1]) == "run(board)"
