"""Bad input gets a clear error code and changes nothing."""

import json

from helpers import filled_sim, ok, refused


def _state(sim):
    st = ok(sim.request("status"))
    return (st["therapy"], st["rate_nl_day"], st["reservoir_pl"], st["drug"], st["conc_mcg_ml"])


def _raw(sim, data):
    return sim.request_raw(data)


def test_garbage_is_answered_and_changes_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    cases = (
        (b"not json\n", "E_JSON"),
        (b"[1,2]\n", "E_JSON"),
        (b"\xff\xfe\x00\n", "E_ENCODING"),
        (b'{"id": 3}\n', "E_UNKNOWN_CMD"),
        (b'{"id": 3, "cmd": "fly"}\n', "E_UNKNOWN_CMD"),
        (b'{"id": [1], "cmd": "status"}\n', "E_ARG_TYPE"),
        (b"x" * 5000 + b"\n", "E_FRAME_TOO_LONG"),
    )
    for data, code in cases:
        reply = _raw(sim, data)
        refused(reply, code)
    assert _state(sim) == before


def test_program_refusals_change_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("program", mode="continuous"), "E_ARG_MISSING")
    refused(sim.request("program", mode="continuous", dose_mcg_day="500"), "E_ARG_TYPE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=-5), "E_ARG_RANGE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=500, speed=3), "E_ARG_UNKNOWN")
    refused(sim.request("program", mode="turbo", dose_mcg_day=500), "E_MODE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=0.0001), "E_ARG_RANGE")
    assert _state(sim) == before


def test_rate_the_planner_cannot_run_is_refused():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("program", mode="continuous", dose_mcg_day=0.01), "E_RATE")  # 5 nL/day
    assert _state(sim) == before


def test_refill_refusals_change_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=25), "E_CAPACITY")
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=20.5, volume_ml=10), "E_ARG_TYPE")
    refused(sim.request("refill", drug="", conc_mcg_ml=2000, volume_ml=10), "E_ARG_TYPE")
    refused(sim.request("refill", conc_mcg_ml=2000, volume_ml=10), "E_ARG_MISSING")
    assert _state(sim) == before


def test_bench_commands_need_the_simulator_bench():
    sim = filled_sim(500, 2000, 20)
    sim.hw.bench = None
    refused(sim.request("sim.run", until_s=10), "E_BENCH_DISABLED")


def test_program_change_logs_old_and_new():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("program", mode="continuous", dose_mcg_day=450))
    events = ok(sim.request("log"))["events"]
    last = [e for e in events if e["type"] == "program"][-1]
    assert last["data"]["old"] == {"mode": "continuous", "dose_ng_day": 500_000}
    assert last["data"]["new"] == {"mode": "continuous", "dose_ng_day": 450_000}


def test_info():
    sim = filled_sim(500, 2000, 20)
    info = ok(sim.request("info"))
    assert info["board"] == "sim" and info["serial"] == "SIM-0001" and info["firmware"]


# --- an exception in a command: a refused command, or a fault of the pump (issue 13 item 1) -------

def _delivering(sim):
    return not sim.pump.safe and not sim.pump.delivery.stop_mask and sim.pump.delivery.planner.running


def test_a_reply_the_heap_cannot_hold_is_answered_with_its_error_and_delivery_goes_on():
    """Replies are streamed (SerialLink.write_json); if even that runs out of heap mid-line, the line is
    ended and the request answered E_INTERNAL: an answer never stops delivery."""
    sim = filled_sim(500, 2000, 20)
    real_write_json = sim.serial.write_json

    def short_of_heap(obj):
        if "events" in obj:
            sim.serial.write(b'{"id": 9, "ok": true, "eve')      # part of the line went out
            raise MemoryError("memory allocation failed")
        real_write_json(obj)

    sim.serial.write_json = short_of_heap
    sim.serial.push(b'{"id": 9, "cmd": "log"}\n')
    sim.clock.horizon_ms = sim.clock.elapsed_ms + 1000
    sim.run_to_horizon()                              # the raw output: the simulator's parser would refuse it
    lines = [line for line in sim.serial.take_output().split(b"\n") if line]
    assert lines[0] == b'{"id": 9, "ok": true, "eve'
    reply = json.loads(lines[1])
    assert reply["id"] == 9 and reply["ok"] is False and reply["error"] == "E_INTERNAL"
    assert "did not fit the heap" in reply["msg"]
    sim.serial.write_json = real_write_json
    steps0 = ok(sim.request("status"))["steps"]
    sim.run_until_s(3600)
    st = ok(sim.request("status"))
    assert not st["safe_state"] and st["stopped_by"] == [] and st["steps"] > steps0


def test_exception_in_a_read_only_command_is_answered_and_delivery_goes_on():
    sim = filled_sim(500, 2000, 20)
    pump = sim.pump

    def broken(*args):
        raise RuntimeError("bug in a read-only command")

    real_records = pump.log.records
    pump.log.records = broken
    reply = refused(sim.request("log"), "E_INTERNAL")
    assert "bug in a read-only command" in reply["msg"]
    pump.log.records = real_records
    real_describe = pump.delivery.bolus.describe
    pump.delivery.bolus.describe = broken
    refused(sim.request("status"), "E_INTERNAL")
    pump.delivery.bolus.describe = real_describe
    assert _delivering(sim)
    steps0 = ok(sim.request("status"))["steps"]
    sim.run_until_s(3600)
    st = ok(sim.request("status"))
    assert not st["safe_state"] and st["stopped_by"] == [] and st["steps"] > steps0
    assert [a["code"] for a in st["alarms"]] == []


def test_exception_while_a_command_is_validated_is_answered_and_changes_nothing():
    from firmware import limits
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    real_check = limits.check

    def broken(*args, **kw):
        raise ValueError("bug in a check")

    limits.check = broken
    try:
        refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_INTERNAL")
        refused(sim.request("bolus", dose_mcg=10, duration_s=600), "E_INTERNAL")
    finally:
        limits.check = real_check
    assert _delivering(sim)
    assert _state(sim) == before
    ok(sim.request("program", mode="continuous", dose_mcg_day=400))


def test_exception_after_a_command_began_to_change_the_pump_is_a_fault():
    """Half a change is not a refused command: the pump goes to its safe state (one shutdown path)."""
    sim = filled_sim(500, 2000, 20)

    def broken(*args, **kw):
        raise RuntimeError("bug while applying")

    sim.pump.delivery.apply_basal = broken
    reply = refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_INTERNAL")
    assert "safe state" in reply["msg"]
    assert sim.pump.safe


# --- 24 flex steps in one frame (issue 13 item 10) ---------------------------------------------------

def test_24_flex_steps_fit_in_one_signed_frame():
    from firmware.framing import MAX_LINE
    from firmware.therapy import MAX_FLEX_STEPS
    assert MAX_FLEX_STEPS == 24
    sim = filled_sim(500, 2000, 20)
    sim._req_id = 999_999_999
    for cycle, span in (("week", 7 * 86400), ("day", 86400)):
        # the longest a host should send: every start near the cycle's end, 3 decimals on every dose
        starts = [span - 24 * 60 + 59 * i for i in range(24)]
        doses = [1999.999 - i * 37.037 for i in range(24)]
        steps = [[s, round(d, 3)] for s, d in zip(starts, doses)]
        frame = sim.frame("program", {"mode": "flex", "cycle": cycle, "steps": steps, "confirm": True,
                                      "dry_run": False}, "clinician")
        assert len(frame) - 1 + 9 <= MAX_LINE, len(frame)    # room for a 10-digit counter too
        reply = ok(sim.request_raw(frame))
        new = reply["new"]
        assert new["cycle"] == cycle and len(new["steps"]) == 24
        assert [s["start_s"] for s in new["steps"]] == starts
        assert [s["dose_ng_day"] for s in new["steps"]] == [int(round(d, 3) * 1000 + 0.5) for d in doses]
