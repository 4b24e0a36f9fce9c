"""End to end on the simulator board: protocol -> therapy -> planner -> stepper -> accounting."""

from helpers import DAY_S, NEAR_WRAP, filled_sim, make_sim, ok, refused


def test_thirty_days_500_mcg_exact():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(30 * DAY_S)
    status = ok(sim.request("status"))
    assert status["delivered_pl"] == 7_500_000_000_000 // 1000   # 7500 uL, to the pL
    assert status["steps"] == 150_000
    assert status["reservoir_pl"] == 20_000_000_000 - 7_500_000_000
    assert status["delivered_pg"] == 15_000 * 1_000_000          # 15 000 mcg
    assert sim.mock_pump.moved_pl == 7_500_000_000


def test_clock_wrap_delivers_the_same_steps():
    runs = []
    for start in (0, NEAR_WRAP):
        sim = filled_sim(500, 2000, 20, start_ticks=start)
        sim.mock_pump.record_steps(sim.clock)
        sim.run_until_s(DAY_S)
        runs.append(sim.mock_pump.step_times)
    assert len(runs[0]) == 5000
    assert runs[0] == runs[1]


def test_mock_counts_true_volume_when_calibration_is_off():
    sim = filled_sim(500, 2000, 20, true_pl_per_step=48_500)
    sim.run_until_s(10 * DAY_S)
    status = ok(sim.request("status"))
    assert status["steps"] == 50_000
    assert sim.mock_pump.moved_pl == 50_000 * 48_500               # 3 % less than the pump believes
    assert status["delivered_pl"] == 50_000 * 50_000


def test_low_then_empty_reservoir():
    sim = filled_sim(1000, 500, 3)   # 2 mL/day from 3 mL: low (2 mL) at 12 h, empty at 36 h
    sim.run_until_s(2 * DAY_S)
    codes = [(n["code"], n["t_s"]) for n in sim.notices if n["notice"] == "alarm_raise"]
    assert codes == [("LOW_RESERVOIR", 43_200), ("EMPTY_RESERVOIR", 129_600)], codes
    status = ok(sim.request("status"))
    assert status["reservoir_pl"] == 0
    assert status["steps"] == 60_000
    assert not sim.mock_pump.enabled              # motor disabled at empty
    assert status["rate_nl_day"] == 0
    assert status["therapy"]["mode"] == "continuous"  # the programme is kept for after the refill


def test_refill_clears_reservoir_alarms_and_resumes():
    sim = filled_sim(1000, 500, 3)
    sim.run_until_s(2 * DAY_S)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=20))
    sim.mock_pump.fill(20_000_000_000)
    cleared = [n["code"] for n in sim.notices if n["notice"] == "alarm_clear"]
    assert sorted(cleared) == ["EMPTY_RESERVOIR", "LOW_RESERVOIR"]
    sim.run_until_s(3 * DAY_S)
    status = ok(sim.request("status"))
    assert status["steps"] == 60_000 + 40_000
    assert status["alarms"] == []


def test_refill_due_prediction():
    sim = filled_sim(500, 2000, 20)
    status = ok(sim.request("status"))
    assert status["refill_due_s"] == 72 * DAY_S    # 18 mL above the 2 mL threshold at 0.25 mL/day
    sim.run_until_s(72 * DAY_S)
    lows = [n["t_s"] for n in sim.notices if n.get("code") == "LOW_RESERVOIR"]
    assert lows == [72 * DAY_S]


def test_wakeups_close_to_minimum():
    sim = filled_sim(500, 2000, 20)
    base = sim.clock.sleeps
    sim.run_until_s(DAY_S)
    wakes = sim.clock.sleeps - base
    needed = 5000 + 1440      # steps + housekeeping (one a minute), some coincide
    assert wakes <= needed, wakes


def test_watchdog_fed_within_timeout_throughout():
    sim = filled_sim(20, 2000, 20)  # slow rate: long sleeps between steps
    last = 0
    worst = 0
    while sim.clock.elapsed_ms < DAY_S * 1000:
        sim.clock.horizon_ms = sim.clock.elapsed_ms + 1
        sim.pump.loop_once()
        gap = sim.watchdog.last_feed_ms - last
        if gap > worst:
            worst = gap
        last = sim.watchdog.last_feed_ms
        sim.clock.horizon_ms = None
        sim.pump.loop_once()
    assert worst <= sim.watchdog.timeout_ms
    assert not sim.watchdog.expired()


def test_no_delivery_without_drug_or_programme():
    sim = make_sim()
    refused(sim.request("program", mode="continuous", dose_mcg_day=500), "E_NO_DRUG")
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == 0
    assert not sim.mock_pump.enabled
