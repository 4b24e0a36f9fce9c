"""Boluses: clinician, screening, prime, bridge, demand. Exact step counts; basal never lost."""

from helpers import DAY_S, filled_sim, ok, refused


def _events(sim, kind):
    return [e for e in ok(sim.request("log", limit=64))["events"] if e["type"] == kind]


def test_bolus_on_top_of_basal_loses_no_basal():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    reply = ok(sim.request("bolus", dose_mcg=50, duration_s=3600))
    assert reply["steps"] == 500                    # 50 mcg at 2000 mcg/mL = 25 uL = 500 x 50 nL
    sim.run_until_s(DAY_S)
    status = ok(sim.request("status"))
    assert status["steps"] == 5000 + 500
    end = _events(sim, "bolus_end")[0]
    assert end["data"] == {"kind": "bolus", "steps": 500, "steps_missed": 0, "why": "done"}
    assert 3600 < end["t_s"] <= 7200
    assert status["bolus"] is None


def test_screening_bolus_from_stopped_then_stopped():
    sim = filled_sim(0, 50, 20)                     # trial concentration 50 mcg/mL, no programme
    ok(sim.request("bolus", dose_mcg=50, duration_s=2 * 3600))
    sim.run_until_s(2 * 3600)
    assert sim.mock_pump.pulses == 20_000           # 1 mL in 50 nL steps, all within the 2 h
    assert not sim.mock_pump.enabled                # back to stopped: motor off
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == 20_000


def test_prime_at_maximum_rate_exact_volume():
    sim = filled_sim(500, 2000, 20)
    reply = ok(sim.request("prime", volume_ul=200))
    assert reply["steps"] == 4000 and reply["rate_nl_day"] == 24_000_000
    sim.run_until_s(720)                             # 200 uL at 1 mL/h
    status = ok(sim.request("status"))
    assert status["bolus"] is None
    assert status["steps"] == 4000 + 720 * 5000 // 86400


def test_bolus_refusals():
    sim = filled_sim(500, 2000, 20)
    refused(sim.request("bolus", dose_mcg=0.01, duration_s=60), "E_BOLUS_TOO_SMALL")
    refused(sim.request("bolus", dose_mcg=50, duration_s=1), "E_RATE")            # faster than max
    ok(sim.request("bolus", dose_mcg=50, duration_s=3600))
    refused(sim.request("bolus", dose_mcg=10, duration_s=3600), "E_BOLUS_ACTIVE")
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20), "E_BOLUS_ACTIVE")


def test_bridge_keeps_the_dose_at_the_catheter_tip():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(DAY_S)
    reply = ok(sim.request("refill", drug="baclofen", conc_mcg_ml=1000, volume_ml=20, bridge=True))
    assert reply["bridge"] is True
    assert ok(sim.request("status"))["rate_nl_day"] == 250_000     # old concentration's rate
    sim.run_until_s(DAY_S + 69_100)
    assert ok(sim.request("status"))["rate_nl_day"] == 250_000
    sim.run_until_s(DAY_S + 69_200)
    assert ok(sim.request("status"))["rate_nl_day"] == 500_000     # 200 uL pushed: new rate
    end = _events(sim, "bridge_end")[0]
    assert abs(end["t_s"] - (DAY_S + 69_120)) <= 18                # 200 uL at 250 uL/day, to a step


def test_concentration_change_without_bridge_warns():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=1000, volume_ml=20))
    assert ok(sim.request("status"))["rate_nl_day"] == 500_000
    warnings = [n for n in sim.notices if n["notice"] == "warning"]
    assert warnings and warnings[-1]["code"] == "CONC_CHANGE_NO_BRIDGE"


def _demand_sim():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    return sim


def test_demand_lockout_and_rolling_maximum():
    sim = _demand_sim()
    ok(sim.request("demand"))
    sim.run_until_s(600)
    refused(sim.request("demand"), "E_DEMAND_LOCKOUT")
    sim.run_until_s(3600)
    ok(sim.request("demand"))
    sim.run_until_s(7200)
    ok(sim.request("demand"))
    sim.run_until_s(3 * 3600)
    refused(sim.request("demand"), "E_DEMAND_MAX_PER_DAY")
    sim.run_until_s(DAY_S + 1)                        # the first one left the 24 h window
    assert ok(sim.request("demand"))["granted_24h"] == 3
    sim.run_until_s(2 * DAY_S)
    status = ok(sim.request("status"))
    assert status["steps"] == 2 * 5000 + 4 * 250      # 25 mcg = 12.5 uL = 250 steps each
    reasons = [e["data"]["error"] for e in _events(sim, "demand_refused")]
    assert reasons == ["E_DEMAND_LOCKOUT", "E_DEMAND_MAX_PER_DAY"]


def test_demand_not_enabled_or_stopped_is_refused_and_logged():
    sim = filled_sim(500, 2000, 20)
    refused(sim.request("demand"), "E_DEMAND_NOT_SET")
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    ok(sim.request("program", mode="stopped"))
    refused(sim.request("demand"), "E_STATE")
    assert len(_events(sim, "demand_refused")) == 2
    ok(sim.request("set", demand=None))
    refused(sim.request("demand"), "E_DEMAND_NOT_SET")
