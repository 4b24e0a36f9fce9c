"""End to end on the simulator board: protocol -> therapy -> planner -> stepper -> accounting."""

import json

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


def test_the_mock_serial_tells_the_host_what_output_waits():
    """boards/sim/main.py asks the mock link how much output waits (public pending_output), not its
    buffer: a reply counts until the host takes it, then nothing waits."""
    sim = make_sim()
    assert sim.serial.pending_output() == 0
    sim.serial.push(b'{"id": 7, "cmd": "info"}\n')
    sim.clock.horizon_ms = sim.clock.elapsed_ms
    sim.run_to_horizon()
    waiting = sim.serial.pending_output()
    out = sim.serial.take_output()
    assert waiting == len(out) and out.endswith(b"\n")
    assert json.loads(out)["id"] == 7
    assert sim.serial.pending_output() == 0 and sim.serial.take_output() == b""


def test_misbehave_speeds_up_only_this_pumps_basal_rate_and_gain_1_restores_it():
    """sim.misbehave wraps this pump's Delivery from boards/sim (the firmware carries no hook): 500
    mcg/day of 2000 mcg/mL is 250 uL/day, 5000 steps of 50 nL a day, 208.3 an hour; gain 3 gives
    625 an hour. A second request replaces the fault (3 stays 3, not 9); gain 1 is the designed rate
    again; a power cycle builds a new Delivery without the fault."""
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)

    def pulses_in_an_hour():
        before = sim.mock_pump.pulses
        sim.run_until_s(sim.clock.elapsed_ms // 1000 + 3600)
        return sim.mock_pump.pulses - before

    assert pulses_in_an_hour() in (208, 209)
    assert ok(sim.request("sim.misbehave", gain=3))["gain"] == 3
    assert ok(sim.request("sim.misbehave", gain=3))["gain"] == 3
    assert pulses_in_an_hour() in (624, 625, 626)
    assert ok(sim.request("sim.misbehave", gain=1))["gain"] == 1
    assert pulses_in_an_hour() in (208, 209)
    ok(sim.request("sim.misbehave", gain=3))
    ok(sim.request("sim.power_cycle"))
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + 60)
    assert pulses_in_an_hour() in (208, 209)
    assert not hasattr(sim.pump, "test_rate_gain") and not hasattr(sim.pump.delivery, "test_rate_gain")
