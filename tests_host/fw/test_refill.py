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
    # 250 uL/day basal + 3 x 12.5 uL demand = 287.5 uL/day over 18 mL
    assert reply["refill_due_s"] == 18_000_000_000 * 86400 // (287_500 * 1000)


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
