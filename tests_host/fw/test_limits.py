"""Drug library: soft limits need confirm, hard limits never pass; unknown drugs and concentrations."""

from helpers import filled_sim, make_sim, ok, refused


def _therapy(sim):
    return ok(sim.request("status"))["therapy"]


def test_daily_dose_soft_and_hard():
    sim = filled_sim(500, 2000, 20)
    refused(sim.request("program", mode="continuous", dose_mcg_day=1200), "E_SOFT_LIMIT_DOSE_DAY")
    assert _therapy(sim)["dose_ng_day"] == 500_000
    ok(sim.request("program", mode="continuous", dose_mcg_day=1200, confirm=True))
    refused(sim.request("program", mode="continuous", dose_mcg_day=2500, confirm=True), "E_HARD_LIMIT_DOSE_DAY")
    assert _therapy(sim)["dose_ng_day"] == 1_200_000


def test_flex_step_over_a_limit_refuses_the_whole_schedule():
    sim = filled_sim(500, 2000, 20)
    reply = refused(sim.request("program", mode="flex", steps=[
        {"start_s": 0, "dose_mcg_day": 400}, {"start_s": 3600, "dose_mcg_day": 3000}], confirm=True),
        "E_HARD_LIMIT_DOSE_DAY")
    assert "3000" in reply["msg"]
    assert _therapy(sim) == {"mode": "continuous", "dose_ng_day": 500_000}
    refused(sim.request("program", mode="flex", steps=[
        {"start_s": 3600, "dose_mcg_day": 400}, {"start_s": 0, "dose_mcg_day": 300}]), "E_SCHEDULE")
    refused(sim.request("program", mode="flex", steps=[]), "E_SCHEDULE")
    refused(sim.request("program", mode="flex", cycle="month", steps=[{"start_s": 0, "dose_mcg_day": 1}]),
            "E_SCHEDULE")
    refused(sim.request("program", mode="flex", steps=[{"start_s": 86400, "dose_mcg_day": 100}]), "E_ARG_RANGE")


def test_bolus_soft_and_hard():
    sim = filled_sim(500, 2000, 20)
    refused(sim.request("bolus", dose_mcg=150, duration_s=3600), "E_SOFT_LIMIT_BOLUS")
    refused(sim.request("bolus", dose_mcg=250, duration_s=3600, confirm=True), "E_HARD_LIMIT_BOLUS")
    ok(sim.request("bolus", dose_mcg=150, duration_s=3600, confirm=True))


def test_demand_settings_soft_and_hard():
    sim = filled_sim(500, 2000, 20)
    base = {"duration_s": 600, "lockout_s": 3600}
    refused(sim.request("set", demand=dict(base, dose_mcg=60, max_per_day=3)), "E_SOFT_LIMIT_DEMAND_DOSE")
    refused(sim.request("set", demand=dict(base, dose_mcg=120, max_per_day=3), confirm=True),
            "E_HARD_LIMIT_DEMAND_DOSE")
    refused(sim.request("set", demand=dict(base, dose_mcg=25, max_per_day=6)), "E_SOFT_LIMIT_DEMAND_PER_DAY")
    refused(sim.request("set", demand=dict(base, dose_mcg=25, max_per_day=10), confirm=True),
            "E_HARD_LIMIT_DEMAND_PER_DAY")
    assert ok(sim.request("status"))["demand"] is None
    ok(sim.request("set", demand=dict(base, dose_mcg=60, max_per_day=6), confirm=True))
    assert ok(sim.request("status"))["demand"]["max_per_day"] == 6


def test_unknown_drug_and_concentration():
    sim = make_sim()
    refused(sim.request("refill", drug="aspirin", conc_mcg_ml=2000, volume_ml=20), "E_UNKNOWN_DRUG")
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=300, volume_ml=20), "E_CONC_NOT_IN_LIBRARY")
    ok(sim.request("refill", drug="ziconotide", conc_mcg_ml=25, volume_ml=20))
    ok(sim.request("program", mode="continuous", dose_mcg_day=2.4))   # 2.4 mcg/day at 25 mcg/mL = 96 uL/day
    assert ok(sim.request("status"))["rate_nl_day"] == 96_000
    refused(sim.request("program", mode="continuous", dose_mcg_day=20, confirm=True), "E_HARD_LIMIT_DOSE_DAY")


def test_three_drugs_besides_baclofen_are_in_the_library():
    from firmware.druglib import DRUGS
    drugs = [name for name in DRUGS if name != "saline"]
    assert "baclofen" in drugs and len(drugs) >= 4
    for name in drugs:
        for key in ("dose_day", "bolus", "demand_dose", "demand_per_day"):
            soft, hard = DRUGS[name][key]
            assert 0 < soft <= hard, (name, key)


def test_saline_is_for_the_bench_only():
    sim = make_sim()
    ok(sim.request("refill", drug="saline", conc_mcg_ml=1, volume_ml=20))
    sim.mock_pump.fill(20_000_000_000)
    refused(sim.request("program", mode="continuous", dose_mcg_day=0.001, confirm=True), "E_HARD_LIMIT_DOSE_DAY")
    reply = ok(sim.request("calibrate", steps=1000))
    assert reply["kind"] == "calibration" and reply["steps"] == 1000
    sim.run_until_s(600)
    assert sim.mock_pump.pulses == 1000


def test_limit_messages_show_doses_in_mcg():
    # ziconotide: daily dose soft 12 mcg, hard 19.2 mcg (12 000 / 19 200 ng/day)
    sim = make_sim()
    ok(sim.request("refill", drug="ziconotide", conc_mcg_ml=25, volume_ml=20))
    reply = refused(sim.request("program", mode="continuous", dose_mcg_day=12.5), "E_SOFT_LIMIT_DOSE_DAY")
    assert reply["msg"].startswith("daily dose 12.500 mcg exceeds the soft limit 12 mcg for ziconotide")
    reply = refused(sim.request("program", mode="continuous", dose_mcg_day=20, confirm=True), "E_HARD_LIMIT_DOSE_DAY")
    assert reply["msg"] == "daily dose 20 mcg exceeds the hard limit 19.200 mcg for ziconotide"
    base = {"dose_mcg": 1, "duration_s": 600, "lockout_s": 3600}
    reply = refused(sim.request("set", demand=dict(base, max_per_day=5), confirm=True), "E_HARD_LIMIT_DEMAND_PER_DAY")
    assert reply["msg"] == "demand boluses per 24 h 5 exceeds the hard limit 4 for ziconotide"
