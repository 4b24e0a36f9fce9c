"""Therapy modes: exact to one step over whole cycles and over a year; changes on time; steps even."""

from helpers import DAY_S, filled_sim, make_sim, ok

from firmware.planner import UNITS_PER_PL

STEP_PL = 50_000


def _expected_steps(segments):
    """segments: [(rate_nl_day, ms)] from t=0 -> exact step count floor(sum(R*ms) / C)."""
    units = 0
    for rate, ms in segments:
        units += rate * ms
    return units // (STEP_PL * UNITS_PER_PL)


def _steps(sim):
    return ok(sim.request("status"))["steps"]


def test_continuous_365_days_within_one_step():
    """A year at 100 mcg/day of 2000 mcg/mL (50 uL/day, 1000 steps a day: the year runs in seconds on
    every interpreter) with a refill every 73 days: the count is exact, no drift."""
    sim = filled_sim(100, 2000, 20)
    total = 0
    for day in range(0, 365, 73):                   # refill every 73 days (3.65 mL used)
        sim.run_until_s((day + 73) * DAY_S)
        total = _steps(sim)
        ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20))
    assert total == _expected_steps([(50_000, 365 * 86_400_000)]) == 365 * 1000


def test_flex_day_whole_cycles_exact_and_changes_on_time():
    sim = filled_sim(0, 2000, 20)
    sim.mock_pump.record_steps(sim.clock)
    ok(sim.request("program", mode="flex", cycle="day", steps=[
        {"start_s": 0, "dose_mcg_day": 400}, {"start_s": 8 * 3600, "dose_mcg_day": 600},
        {"start_s": 20 * 3600, "dose_mcg_day": 300}]))
    sim.run_until_s(3 * DAY_S)
    segs = []
    for _ in range(3):
        segs += [(200_000, 8 * 3_600_000), (300_000, 12 * 3_600_000), (150_000, 4 * 3_600_000)]
    assert _steps(sim) == _expected_steps(segs)
    # every step time equals the piecewise closed form: the k-th multiple of C crossed by the integral
    times = sim.mock_pump.step_times
    cost = STEP_PL * UNITS_PER_PL
    bounds = []
    t0 = units0 = 0
    for rate, ms in segs:
        bounds.append((t0, units0, rate))
        t0 += ms
        units0 += rate * ms
    seg = 0
    for k, t in enumerate(times, 1):
        need = k * cost
        while seg + 1 < len(bounds) and bounds[seg + 1][1] < need:
            seg += 1
        start, acc, rate = bounds[seg]
        assert t == start + -(-(need - acc) // rate), (k, t)


def test_flex_week_cycle_and_its_wrap():
    sim = filled_sim(0, 2000, 20)
    ok(sim.request("program", mode="flex", cycle="week", steps=[
        {"start_s": 0, "dose_mcg_day": 500}, {"start_s": 3 * DAY_S + 20 * 3600, "dose_mcg_day": 800}]))
    sim.run_until_s(3 * DAY_S + 20 * 3600 + 60)
    assert ok(sim.request("status"))["rate_nl_day"] == 400_000
    sim.run_until_s(7 * DAY_S + 60)
    assert ok(sim.request("status"))["rate_nl_day"] == 250_000
    sim.run_until_s(14 * DAY_S)
    week = [(250_000, (3 * 24 + 20) * 3_600_000), (400_000, (3 * 24 + 4) * 3_600_000)]
    assert _steps(sim) == _expected_steps(week + week)


def test_flex_first_start_after_midnight_wraps_from_previous_cycle():
    sim = filled_sim(0, 2000, 20)
    ok(sim.request("program", mode="flex", steps=[
        {"start_s": 6 * 3600, "dose_mcg_day": 600}, {"start_s": 22 * 3600, "dose_mcg_day": 400}]))
    assert ok(sim.request("status"))["rate_nl_day"] == 200_000      # 00:00 is still the 22:00 step
    sim.run_until_s(DAY_S)
    segs = [(200_000, 6 * 3_600_000), (300_000, 16 * 3_600_000), (200_000, 2 * 3_600_000)]
    assert _steps(sim) == _expected_steps(segs)


def test_minimum_mode_runs_the_configured_minimum():
    sim = filled_sim(0, 500, 20)
    ok(sim.request("set", minimum_ul_day=20))
    ok(sim.request("program", mode="minimum"))
    sim.run_until_s(10 * DAY_S)
    assert _steps(sim) == 10 * 400


def test_stopped_delivers_nothing_and_disables_the_motor():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(DAY_S)
    ok(sim.request("program", mode="stopped"))
    assert not sim.mock_pump.enabled
    sim.run_until_s(3 * DAY_S)
    assert _steps(sim) == 5000


def test_dry_run_shows_the_difference_and_changes_nothing():
    sim = filled_sim(500, 2000, 20)
    reply = ok(sim.request("program", mode="continuous", dose_mcg_day=450, dry_run=True))
    assert reply["applied"] is False
    assert reply["old"] == {"mode": "continuous", "dose_ng_day": 500_000}
    assert reply["new"] == {"mode": "continuous", "dose_ng_day": 450_000}
    assert ok(sim.request("status"))["therapy"] == {"mode": "continuous", "dose_ng_day": 500_000}


def test_programme_change_mid_interval_carries_the_partial_step():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(12 * 3600 + 7)
    ok(sim.request("program", mode="continuous", dose_mcg_day=300))
    sim.run_until_s(DAY_S)
    assert _steps(sim) == _expected_steps([(250_000, 43_207_000), (150_000, 86_400_000 - 43_207_000)])


def test_no_drug_no_programme():
    sim = make_sim()
    reply = sim.request("program", mode="minimum")
    assert reply["error"] == "E_NO_DRUG"
