"""Refill workflow and the refill-due forecast."""

from helpers import DAY_S, filled_sim, make_sim, ok, refused


def test_refill_over_capacity_is_refused():
    sim = make_sim()
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20.5), "E_CAPACITY")
    ok(sim.request("set", reservoir_capacity_ml=40))
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=40))


def test_residual_mismatch_warns_within_tolerance_does_not():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(5 * DAY_S)                      # estimate 18.75 mL
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, residual_ml=18.5))
    assert not [n for n in sim.notices if n["notice"] == "warning"]
    sim.run_until_s(10 * DAY_S)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, residual_ml=16.5))
    warnings = [n for n in sim.notices if n["notice"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["code"] == "REFILL_MISMATCH"
    assert warnings[0]["mismatch_nl"] == 16_500_000 - 18_750_000


def test_refill_with_another_drug_stops_the_programme():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("refill", drug="morphine", conc_mcg_ml=10000, volume_ml=20))
    status = ok(sim.request("status"))
    assert status["therapy"] == {"mode": "stopped"} and status["rate_nl_day"] == 0


def test_refill_due_matches_the_alarm_with_and_without_demand():
    sim = filled_sim(500, 2000, 20)
    assert ok(sim.request("status"))["refill_due_s"] == 72 * DAY_S
    reply = ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600,
                                         "max_per_day": 3}))
    # every allowed demand bolus taken as soon as allowed: 12.5 uL at 0, 1 and 2 h of each day. Day 62
    # starts at 250 x 62 + 12.5 x 186 = 17 825 uL of the 18 000 above the threshold; its boluses and
    # 2 h of basal make 17 883.33 uL; the last 116.67 uL at 250 uL/day take 40 320 s:
    # 62 d + 7200 s + 40 320 s (spread evenly, 287.5 uL/day: 5 409 391 s, 1.4 h late)
    assert reply["refill_due_s"] == 62 * DAY_S + 7200 + 40_320


def test_flex_forecast_meets_the_real_low_alarm():
    sim = filled_sim(0, 2000, 20)
    reply = ok(sim.request("program", mode="flex", steps=[
        {"start_s": 0, "dose_mcg_day": 400}, {"start_s": 8 * 3600, "dose_mcg_day": 600},
        {"start_s": 20 * 3600, "dose_mcg_day": 300}]))
    due = reply["refill_due_s"]
    sim.run_until_s(due + 60)
    low = [n["t_s"] for n in sim.notices if n.get("code") == "LOW_RESERVOIR"]
    assert len(low) == 1 and 0 <= low[0] - due <= 18, (low, due)


def test_refill_due_recomputed_after_bolus():
    sim = filled_sim(500, 2000, 20)
    before = ok(sim.request("status"))["refill_due_s"]
    after = ok(sim.request("bolus", dose_mcg=100, duration_s=3600))["refill_due_s"]
    assert before - after == 17_280    # 50 uL less above the threshold at 250 uL/day


def test_tubing_service_reminder_after_the_set_volume_and_again_after_calibration():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", tubing_service_ml=1))            # 1 mL: 4 days at 250 uL/day
    sim.run_until_s(3 * DAY_S)
    assert [n for n in sim.notices if n.get("code") == "TUBING_SERVICE"] == []
    sim.run_until_s(4 * DAY_S + 120)
    reminders = [n for n in sim.notices if n.get("code") == "TUBING_SERVICE"]
    assert len(reminders) == 1 and 4 * DAY_S <= reminders[0]["t_s"] <= 4 * DAY_S + 60
    ok(sim.request("set", nl_per_step=50))                  # recalibrated: a new interval starts
    sim.power_cycle(0)                                      # and the settings survive a reset
    sim.run_until_s(8 * DAY_S + 120)
    assert len([n for n in sim.notices if n.get("code") == "TUBING_SERVICE"]) == 2


# --- issue 13 items 6, 7, 14: the refill-due forecast ------------------------------------------------

def test_refill_due_after_a_bridge_counts_the_bridge_volume():
    # 200 mcg/day at 500 mcg/mL is 400 uL/day; at 10 d (16 mL left) refill 20 mL at 2000 mcg/mL with a
    # bridge: 200 uL at 400 uL/day (12 h), 19 800 uL left at 10.5 d; then 100 uL/day:
    # (19 800 - 2000) / 100 = 178 d more, LOW at 188.5 d = 16 286 400 s (ignoring the bridge: 190 d)
    sim = filled_sim(200, 500, 20)
    sim.run_until_s(10 * DAY_S)
    reply = ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, bridge=True))
    assert reply["refill_due_s"] == 16_286_400
    sim.run_until_s(11 * DAY_S)
    assert ok(sim.request("status"))["refill_due_s"] == 16_286_400
    sim.run_until_s(20 * DAY_S)
    assert ok(sim.request("status"))["refill_due_s"] == 16_286_400


def test_refill_due_during_a_bridge_meets_the_real_low_alarm():
    # the same with the LOW threshold at 18 mL: 19 800 - 18 000 = 1800 uL at 100 uL/day, 18 d after
    # 10.5 d: 28.5 d = 2 462 400 s
    sim = filled_sim(200, 500, 20)
    sim.run_until_s(10 * DAY_S)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, bridge=True))
    reply = ok(sim.request("set", low_reservoir_ml=18))
    assert reply["refill_due_s"] == 2_462_400
    sim.run_until_s(29 * DAY_S)
    low = [n["t_s"] for n in sim.notices if n["notice"] == "alarm_raise" and n["code"] == "LOW_RESERVOIR"]
    assert low == [2_462_400]


def _demand_forecast_sim(lockout_s, volume_ml=40):
    # 40 mL at 2000 mcg/mL, LOW at 4 mL; 500 mcg/day (250 uL/day); demand 50 mcg (25 uL) over 10 min,
    # at most 4 a day; the first demand at day 1, the forecast asked right after it
    sim = make_sim()
    ok(sim.request("set", reservoir_capacity_ml=40, low_reservoir_ml=4))
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=volume_ml))
    sim.mock_pump.fill(volume_ml * 1_000_000_000)
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    ok(sim.request("set", demand={"dose_mcg": 50, "duration_s": 600, "lockout_s": lockout_s, "max_per_day": 4}))
    sim.run_until_s(DAY_S)
    return sim, ok(sim.request("demand"))


def test_refill_due_with_demand_takes_the_24h_maximum_as_the_boluses_fall():
    # lockout 3 h: 4 a day at 0, 3, 6, 9 h of each day from day 1. By the start of day n (n >= 1):
    # 250 n + 100 (n - 1) uL; day 103 starts at 35 950 of the 36 000 uL above the threshold; its first
    # bolus makes 35 975, and the basal (250 uL/day) brings the last 25 uL in 2.4 h: 103.1 d = 8 907 840 s
    # (spread evenly, 350 uL/day from t = 0: 8 886 857 s)
    sim, reply = _demand_forecast_sim(3 * 3600)
    assert reply["refill_due_s"] == 8_907_840
    assert ok(sim.request("status"))["refill_due_s"] == 8_907_840


def test_refill_due_with_demand_follows_the_lockout():
    # lockout 10 h: one every 10 h from day 1, 2.4 a day (the 24 h maximum of 4 is never reached). At
    # 116.3 d: basal 250 x 116.3 = 29 075 uL; boluses at 1 d + 10 h k up to 116.0 d: 277 x 25 = 6925 uL;
    # together the 36 000 uL above the threshold: 10 048 320 s (the old forecast: 8 886 857 s)
    sim, reply = _demand_forecast_sim(10 * 3600)
    assert reply["refill_due_s"] == 10_048_320


def test_refill_due_with_demand_meets_the_real_low_alarm_when_every_allowed_bolus_is_taken():
    # 6.5 mL filled: 2500 uL above the 4 mL threshold. Day 7 starts at 250 x 7 + 100 x 6 = 2350 uL; its
    # boluses at 0, 3 and 6 h and the basal make 2487.5 uL at 6 h; the basal's last 12.5 uL take 1.2 h:
    # 7 d + 7.2 h = 630 720 s
    sim, reply = _demand_forecast_sim(3 * 3600, volume_ml=6.5)
    assert reply["refill_due_s"] == 630_720
    for day in range(1, 8):
        for hour in (0, 3, 6, 9):
            t = day * DAY_S + hour * 3600
            if t > 630_720:
                break
            if t > DAY_S:
                sim.run_until_s(t)
                ok(sim.request("demand"))
    sim.run_until_s(8 * DAY_S)
    low = [n["t_s"] for n in sim.notices if n["notice"] == "alarm_raise" and n["code"] == "LOW_RESERVOIR"]
    assert len(low) == 1 and 630_720 <= low[0] <= 630_720 + 18, low       # within one basal step


def _counting_therapy(therapy):
    """Count the calls into the programme's schedule (the forecast's work)."""
    calls = [0]

    def counted(fn):
        def wrapper(*args):
            calls[0] += 1
            return fn(*args)
        return wrapper
    for name in ("rate_at", "next_change_s", "dose_at"):
        setattr(therapy, name, counted(getattr(therapy, name)))
    return calls


def test_refill_due_of_a_24_step_flex_programme_in_closed_form():
    # 24 hourly steps, 20 and 10 mcg/day in turn at 2000 mcg/mL: 10 000 and 5000 nL/day, 7500 nL a day;
    # 18 000 uL above the threshold last 2400 days exactly: 207 360 000 s (57 600 segments: the old walk
    # gave up after 20 000 and said None)
    from firmware.therapy import Therapy
    sim = filled_sim(0, 2000, 20)
    therapy = Therapy()           # set in process: 24 steps as objects do not fit one frame (item 10)
    therapy.set_flex(DAY_S, [h * 3600 for h in range(24)], [20_000 if h % 2 == 0 else 10_000 for h in range(24)])
    calls = _counting_therapy(therapy)
    sim.pump.delivery.set_therapy(therapy)
    sim.pump.commit()
    assert sim.pump.refill_due_s == 2400 * DAY_S
    assert calls[0] <= 50, calls[0]            # per cycle, not per segment: independent of the horizon


def test_refill_due_is_not_computed_inside_the_delivery_loop():
    from firmware import forecast
    sim = filled_sim(500, 2000, 20)
    pump = sim.pump
    ok(sim.request("bolus", dose_mcg=10, duration_s=600))          # 100 steps: ends inside deliver()
    before = ok(sim.request("status"))["refill_due_s"]
    inside = [0]
    calls = [0]
    real_deliver = pump.delivery.deliver
    real_forecast = forecast.refill_due_s

    def deliver(now, horizon):
        inside[0] += 1
        try:
            return real_deliver(now, horizon)
        finally:
            inside[0] -= 1

    def spy(*args):
        assert inside[0] == 0, "refill_due_s called on the delivery path"
        calls[0] += 1
        return real_forecast(*args)
    pump.delivery.deliver = deliver
    forecast.refill_due_s = spy
    try:
        sim.run_until_s(700)
    finally:
        forecast.refill_due_s = real_forecast
    assert calls[0] >= 1                                            # recomputed after the bolus ended
    assert ok(sim.request("status"))["bolus"] is None
    after = ok(sim.request("status"))["refill_due_s"]
    assert before - 1 <= after <= before, (before, after)           # the bolus was already counted
