"""Every persisted setting is proven by its effect after a reset, not by its stored value (issue 13,
item 2: the calibration came back in the record but not in the planners, so the pump delivered 20 %
more after every reset).

Each check sets one setting away from its default, cuts the power, and observes what the setting does
(steps, volumes, alarm times, refusals). _EFFECTS must name every key of the settings record: a new
persisted setting without an effect check fails test_every_persisted_setting_has_an_effect_check.
"""

import json

from helpers import DAY_S, filled_sim, make_sim, ok, refused

from firmware import persist


def _events(sim, kind):
    return [e for e in ok(sim.request("log", limit=64))["events"] if e["type"] == kind]


def _now_s(sim):
    return sim.clock.elapsed_ms // 1000


def _calibration():
    # true step 60 nL, calibrated to 60 nL: 250 000 nL/day is 4166 whole steps a day (one every 20.736 s)
    sim = filled_sim(0, 2000, 20, true_pl_per_step=60_000)
    ok(sim.request_as("bench", "set", nl_per_step=60))
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    sim.power_cycle(0)
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.moved_pl == 4166 * 60_000, sim.mock_pump.moved_pl


def _nominal_step():
    # the nominal hardware step bounds every calibration to +/-25 %: nominal 80 nL allows 60..100 nL
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", nominal_nl_per_step=80, nl_per_step=80))
    sim.power_cycle(0)
    ok(sim.request_as("bench", "set", nl_per_step=95))         # outside 50 +/- 25 %, inside 80 +/- 25 %
    refused(sim.request_as("bench", "set", nl_per_step=55), "E_ARG_RANGE")   # the reverse


def _capacity():
    sim = make_sim()
    ok(sim.request("set", reservoir_capacity_ml=40))
    sim.power_cycle(0)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=30))   # 20 mL by default


def _low_threshold():
    # 250 uL/day from 20 mL: 19.9 mL is reached after 100 uL, at 0.4 d = 34 560 s (2 mL: after 72 days)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", low_reservoir_ml=19.9))
    sim.run_until_s(600)
    sim.power_cycle(0)
    sim.run_until_s(DAY_S // 2)
    low = [n["t_s"] for n in sim.notices if n["notice"] == "alarm_raise" and n["code"] == "LOW_RESERVOIR"]
    # the reset's reserve (the safe side) may bring it up to two steps (35 s) earlier
    assert len(low) == 1 and 34_560 - 60 <= low[0] <= 34_560 + 18, low


def _minimum_rate():
    # 96 uL/day in 50 nL steps: 1920 steps a day (the default 48 uL/day: 960)
    sim = filled_sim(0, 2000, 20)
    ok(sim.request("set", minimum_ul_day=96))
    ok(sim.request("program", mode="minimum"))
    sim.power_cycle(0)
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == 1920, sim.mock_pump.pulses


def _catheter_volume():
    # a bridge pushes the catheter volume (100 uL, not the default 200 uL) at the old rate, 250 uL/day:
    # 0.4 d = 34 560 s
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", catheter_volume_ul=100))
    sim.power_cycle(0)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=1000, volume_ml=20, bridge=True))
    sim.run_until_s(DAY_S // 2)
    ends = [e["t_s"] for e in _events(sim, "bridge_end")]
    assert len(ends) == 1 and 34_560 <= ends[0] <= 34_560 + 18, ends


def _max_rate():
    # 500 uL/h = 12 000 000 nL/day: a 200 uL prime takes 1440 s (the default 1 mL/h: 720 s)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", max_rate_ul_h=500))
    sim.power_cycle(0)
    assert ok(sim.request("prime", volume_ul=200))["rate_nl_day"] == 12_000_000
    sim.run_until_s(1400)
    assert ok(sim.request("status"))["bolus"] is not None
    sim.run_until_s(1441)
    assert ok(sim.request("status"))["bolus"] is None


def _residual_tolerance():
    # 0.1 mL tolerance: a drained volume 0.2 mL below the estimate warns (the default 1 mL does not)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", residual_tolerance_ml=0.1))
    sim.power_cycle(0)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, residual_ml=19.8))
    warnings = [n for n in sim.notices if n["notice"] == "warning" and n["code"] == "REFILL_MISMATCH"]
    assert len(warnings) == 1, warnings


def _journal_interval():
    # journal every 600 s: after a cut without a kept RTC the clock resumes at most 600 s (+ half a
    # housekeeping period) behind (the default 3600 s: back at t = 0)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", journal_interval_s=600))
    sim.power_cycle(0)
    sim.run_until_s(3000)
    sim.power_cycle(60, rtc_lost=True)
    t_s = ok(sim.request("status"))["t_s"]
    assert 3000 - 600 - 30 <= t_s <= 3000, t_s


def _tubing():
    # reminder after 1 mL since the last calibration; the calibration at 2 d (500 uL delivered) sets the
    # base, so the reminder comes at 2 d + 4 d = 6 d (without the base: 4 d; without the volume: never)
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(2 * DAY_S)
    ok(sim.request("set", tubing_service_ml=1, nl_per_step=50))
    sim.power_cycle(0)
    sim.run_until_s(6 * DAY_S + 120)
    seen = [n["t_s"] for n in sim.notices if n.get("code") == "TUBING_SERVICE"]
    # the reset's reserve counts as delivered (the safe side): up to an interval's 10.7 uL earlier
    assert len(seen) == 1 and 6 * DAY_S - 3700 <= seen[0] <= 6 * DAY_S + 60, seen


def _programme():
    # flex 400 mcg/day from 00:00, 600 mcg/day from 08:00 at 2000 mcg/mL: 200 000 then 300 000 nL/day
    sim = filled_sim(0, 2000, 20)
    ok(sim.request("program", mode="flex", steps=[{"start_s": 0, "dose_mcg_day": 400},
                                                   {"start_s": 8 * 3600, "dose_mcg_day": 600}]))
    sim.power_cycle(0)
    sim.run_until_s(8 * 3600)
    assert sim.mock_pump.pulses == 8 * 3600 * 4000 // 86400          # 1333 steps of 21.6 s
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == 1333 + 16 * 3600 * 6000 // 86400  # + 4000 steps of 14.4 s


def _drug():
    # 500 mcg/day at 1000 mcg/mL is 500 uL/day: 10 000 steps a day (at 2000 mcg/mL: 5000)
    sim = filled_sim(0, 1000, 20)
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    sim.power_cycle(0)
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == 10_000, sim.mock_pump.pulses


def _demand():
    # 25 mcg (12.5 uL, 250 steps) over 600 s, lockout 1 h, at most 2 a day
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 2}))
    sim.power_cycle(0)
    reply = ok(sim.request("demand"))
    assert reply["steps"] == 250 and reply["rate_nl_day"] == 1_800_000
    sim.run_until_s(1800)
    refused(sim.request("demand"), "E_DEMAND_LOCKOUT")
    sim.run_until_s(3600)
    ok(sim.request("demand"))
    sim.run_until_s(7200)
    refused(sim.request("demand"), "E_DEMAND_MAX_PER_DAY")


# settings record key -> the check that proves it by its effect after a reset
_EFFECTS = {
    "step_pl": _calibration,
    "nominal_step_pl": _nominal_step,
    "reservoir_capacity_nl": _capacity,
    "low_reservoir_nl": _low_threshold,
    "minimum_nl_day": _minimum_rate,
    "catheter_volume_nl": _catheter_volume,
    "max_rate_nl_day": _max_rate,
    "residual_tolerance_nl": _residual_tolerance,
    "journal_interval_s": _journal_interval,
    "tubing_service_nl": _tubing,
    "tubing_base_ul": _tubing,
    "rx": _programme,
    "drug": _drug,
    "demand": _demand,
}


def test_every_persisted_setting_has_an_effect_check():
    sim = filled_sim(500, 2000, 20)
    record = json.loads(persist.encode_settings(sim.pump.store.settings_snapshot()))
    keys = set(record["cfg"])
    keys.update(k for k in record if k not in ("v", "cfg"))
    assert keys == set(_EFFECTS), sorted(keys ^ set(_EFFECTS))


def test_every_persisted_setting_takes_effect_after_a_reset():
    failed = []
    done = []
    for key in sorted(_EFFECTS):
        check = _EFFECTS[key]
        if check in done:
            continue
        done.append(check)
        try:
            check()
        except AssertionError as exc:
            failed.append("%s: %s" % (key, exc))
    assert not failed, failed
