"""Issue 16: the wake-up path was made cheaper; the detections must be exactly what they were.

tools/bench/cpython_wakeup_trace.py runs a day of injected faults on the simulator and records every step's
virtual time and every alarm with the step it came after. tests_host/data/wakeup_trace_af9ea84.json
is that trace recorded from the firmware of commit af9ea84, before issues 15 and 16 restructured the
loop, the step path, housekeeping and the monitors. Today's firmware must give the same trace: every
step at the same millisecond, every alarm raised and cleared at the same second after the same step.
The bounds themselves are checked from the monitors' constants too, so the recorded trace is not
taken on trust either.
"""

import hashlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))

import cpython_wakeup_trace as wakeup_trace  # noqa: E402

GOLDEN = os.path.join(ROOT, "tests_host", "data", "wakeup_trace_af9ea84.json")
STEP_MS = 17_280              # 500 mcg/day at 2000 mcg/mL, 50 nL a step: 5000 steps a day


@pytest.fixture(scope="module")
def traced():
    return wakeup_trace.trace()


@pytest.fixture(scope="module")
def golden():
    with open(GOLDEN) as f:
        return json.load(f)


def test_every_step_is_at_the_same_millisecond_as_before(traced, golden):
    steps = traced["steps_ms"]
    assert len(steps) == golden["steps"]
    assert steps[:3] == golden["first_steps_ms"] and steps[-3:] == golden["last_steps_ms"]
    digest = hashlib.sha256(json.dumps(steps, separators=(",", ":")).encode()).hexdigest()
    assert digest == golden["steps_sha256"]


def test_every_alarm_is_at_the_same_second_and_step_as_before(traced, golden):
    assert traced["alarms"] == golden["alarms"]


def _steps_by(steps_ms, t_s):
    return sum(1 for t in steps_ms if t // 1000 <= t_s)


def _event_s(request):
    return next(at for at, req in wakeup_trace.EVENTS if req == request)


def _raised(traced, code):
    return next(a for a in traced["alarms"] if a[0] == "alarm_raise" and a[1] == code)


def test_the_detections_keep_their_bounds(traced):
    """From first principles: the monitors' windows (firmware/monitors.py), the guard's limit."""
    from firmware.monitors import DISCONNECT_HOLD, OCCLUSION_HOLD, STALL_WINDOW
    steps = traced["steps_ms"]
    assert steps[:2] == [STEP_MS, 2 * STEP_MS]
    # the occlusion first has to build the pressure: the mock line adds occlusion_step_mv a pulse
    from firmware.supervisor import SupervisorConfig
    from hal.mock.line import MockLine
    from hal.mock.pump import MockPump
    line = MockLine(MockPump())
    build = -(-(SupervisorConfig().occlusion_mv - line.idle_mv) // line.occlusion_step_mv)   # 20 pulses
    for fault, code, steps_needed in (("motor_stall", "MOTOR_STALL", STALL_WINDOW),
                                      ("occlusion", "OCCLUSION", build + OCCLUSION_HOLD - 1),
                                      ("disconnect", "DISCONNECT", DISCONNECT_HOLD)):
        injected = _steps_by(steps, _event_s({"cmd": "sim.fault", "fault": fault}))
        _, _, _, after = _raised(traced, code)
        assert 1 <= after - injected <= steps_needed, (code, injected, after)
        if code != "MOTOR_STALL":                # a hold counts every step: exactly at the bound
            assert after - injected == steps_needed, (code, injected, after)
    # battery: BATTERY_HOLD readings of a 60 s housekeeping, the first within a period of the fault
    for fault, code in (("battery_low", "BATTERY_ERI"), ("battery_eos", "BATTERY_EOS")):
        from firmware.monitors import BATTERY_HOLD
        at = _event_s({"cmd": "sim.fault", "fault": fault})
        delay_s = _raised(traced, code)[2] - at
        assert (BATTERY_HOLD - 1) * 60 < delay_s <= BATTERY_HOLD * 60 + 30, (code, delay_s)
    # the guard: 5000 steps a day allowed; trip past 5000 + 5000 // 10 + 20 counted in the window
    _, _, _, after = _raised(traced, "OVERDELIVERY_GUARD")
    assert after == 5000 + 500 + 20 + 1
    assert len(steps) == after                   # and not one step more
