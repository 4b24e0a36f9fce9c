"""Hostile numbers and values in every field of every command while the pump delivers (issue 13 items
1 and 17): each is refused with a known error code, the pump never enters its safe state, and its
steps fall at exactly the ticks of a twin that got none of it."""

import json

import fuzzkit
from helpers import filled_sim, make_sim, ok, refused

_GAP_MS = 1000   # virtual time between two hostile requests: delivery goes on in between


def _twin_pair():
    pair = []
    for _ in range(2):
        sim = make_sim()
        fuzzkit.setup_frames(sim)
        sim.pump.protocol.auth.max_failures = 1 << 30   # ctr/role cases are auth failures: no lockout
        sim.mock_pump.record_steps(sim.clock)
        pair.append(sim)
    return pair


def _advance(sim, t_ms):
    sim.clock.horizon_ms = t_ms
    sim.run_to_horizon()


def _reply(sim):
    replies = [json.loads(x) for x in sim.serial.take_output().split(b"\n") if x]
    replies = [r for r in replies if "notice" not in r]
    assert len(replies) == 1, replies
    return replies[0]


def _state(sim):
    st, config, _, keys = fuzzkit.snapshot(sim)
    return st, config, keys


def test_every_field_refuses_hostile_values_while_delivering():
    sim, ref = _twin_pair()
    known = fuzzkit.known_codes()
    cases = fuzzkit.hostile_cases()
    assert len(cases) > 500
    t_ms = sim.clock.elapsed_ms
    codes = {}
    for label, cmd, base, path, token in cases:
        t_ms += _GAP_MS
        sim.serial.push(fuzzkit.hostile_line(sim, cmd, base, path, token))
        _advance(sim, t_ms)
        _advance(ref, t_ms)
        reply = _reply(sim)
        assert reply["ok"] is False, (label, reply)
        assert reply["error"] in known, (label, reply)
        assert not sim.pump.safe and not sim.pump.delivery.stop_mask, (label, reply)
        codes[reply["error"]] = codes.get(reply["error"], 0) + 1
    t_ms += 600_000
    _advance(sim, t_ms)
    _advance(ref, t_ms)
    steps = sim.mock_pump.step_times
    assert len(steps) > 300, len(steps)            # 2 mL/day at 50 nL: a step every 2.16 s
    assert steps == ref.mock_pump.step_times
    assert _state(sim) == _state(ref)
    for code in ("E_ARG_RANGE", "E_ARG_TYPE", "E_SCHEDULE", "E_ARG_UNKNOWN"):
        assert codes.get(code, 0) > 0, (code, codes)


def test_log_with_an_infinite_since_or_limit_is_refused_and_delivery_goes_on():
    # the review's reproduction: an unsigned public read sent the pump to its safe state
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(600)
    steps0 = ok(sim.request("status"))["steps"]
    for body, code in ((b'{"id": 1, "cmd": "log", "since": 1e400}', "E_ARG_RANGE"),
                       (b'{"id": 2, "cmd": "log", "since": -1e400}', "E_ARG_RANGE"),
                       (b'{"id": 3, "cmd": "log", "limit": 1e400}', "E_ARG_RANGE"),
                       (b'{"id": 4, "cmd": "log", "limit": 1e39}', "E_ARG_RANGE"),      # inf on a single-float board
                       (b'{"id": 5, "cmd": "log", "since": 1e20}', "E_ARG_RANGE"),
                       (b'{"id": 6, "cmd": "log", "limit": 2.5}', "E_ARG_TYPE")):
        reply = refused(sim.request_raw(body + b"\n"), code)
        assert reply["id"] is not None
        assert not sim.pump.safe and not sim.pump.delivery.stop_mask
    sim.run_until_s(600 + 3600)
    st = ok(sim.request("status"))
    assert not st["safe_state"] and st["stopped_by"] == []
    # 250 uL/day at 50 nL a step: 5000 steps a day, 208.3 in an hour (one more or less at the edges)
    assert 207 <= st["steps"] - steps0 <= 209, st["steps"] - steps0


def test_signed_fields_with_infinite_values_are_refused_and_change_nothing():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    before = ok(sim.request("status"))
    for cmd, base, path in (("set_time", {"wall_s": 1}, ("wall_s",)),
                            ("bolus", {"dose_mcg": 10, "duration_s": 60}, ("duration_s",)),
                            ("set", {"journal_interval_s": 600}, ("journal_interval_s",)),
                            ("set", {"demand": {"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600,
                                                "max_per_day": 3}}, ("demand", "lockout_s")),
                            ("calibrate", {"steps": 10}, ("steps",)),
                            ("program", {"mode": "flex", "cycle": "day",
                                         "steps": [{"start_s": 0, "dose_mcg_day": 500}]}, ("steps", 0, "start_s"))):
        for token in ("1e400", "-1e400", "1e39"):
            reply = sim.request_raw(fuzzkit.hostile_line(sim, cmd, base, path, token))
            refused(reply, "E_ARG_RANGE")
            assert not sim.pump.safe and not sim.pump.delivery.stop_mask, (cmd, token)
    after = ok(sim.request("status"))
    for key in ("therapy", "demand", "bolus", "rate_nl_day", "step_pl", "t_s"):
        assert after[key] == before[key], key


def test_flex_cycle_of_another_type_is_refused():
    sim = filled_sim(500, 2000, 20)
    before = ok(sim.request("status"))["therapy"]
    steps = [{"start_s": 0, "dose_mcg_day": 400}]
    for cycle in (["day"], {"day": 1}, 86400, None, True, "month"):
        refused(sim.request("program", mode="flex", cycle=cycle, steps=steps), "E_SCHEDULE")
        assert not sim.pump.safe
    assert ok(sim.request("status"))["therapy"] == before
    ok(sim.request("program", mode="flex", cycle="day", steps=steps))
