"""The mocks' realism as bench testers reach it: the Simulation's options, the sim.pump / sim.record /
sim.steplog bench commands, battery drain. Plain Python: runs on CPython and on the MicroPython unix
port (tests_host/test_micropython.py), and the values must agree on both."""

from helpers import DAY_S, filled_sim, make_sim, ok, refused

from firmware.errors import E_ARG_RANGE, E_ARG_TYPE, E_ARG_UNKNOWN, E_STATE
from hal.mock.clock import VirtualClock
from hal.mock.io import MockBattery

NOMINAL_PL = 50_000


def _drain(sim):
    """All logged pulses: (times, volumes), through sim.steplog replies of at most 4096 each."""
    times, volumes, replies = [], [], []
    while True:
        reply = ok(sim.request("sim.steplog"))
        assert len(reply["volumes_pl"]) == len(reply["times_ms"])
        replies.append((len(reply["times_ms"]), reply["left"]))
        times.extend(reply["times_ms"])
        volumes.extend(reply["volumes_pl"])
        if not reply["left"]:
            return times, volumes, replies


def _recorded_day(**kw):
    """One day at 500 mcg/day of 2000 mcg/mL (250 uL/day: 5000 steps), every pulse logged."""
    sim = filled_sim(0, 2000, 20, **kw)
    ok(sim.request("sim.record", on=1))
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    before = sim.mock_pump.moved_pl
    sim.run_until_s(DAY_S)
    times, volumes, replies = _drain(sim)
    return sim, times, volumes, replies, sim.mock_pump.moved_pl - before


def test_simulation_options_reach_the_mocks():
    sim = make_sim(noise_ppm=20_000, noise_seed=7, wear_ppm_per_ml=3_000, battery_drain_uv_per_day=1_500)
    state = ok(sim.request("sim.state"))
    assert (state["noise_ppm"], state["noise_seed"], state["wear_ppm_per_ml"], state["tubing_pl"]) == \
        (20_000, 7, 3_000, 0), state
    assert sim.battery.drain_uv_per_day == 1_500
    plain = ok(make_sim().request("sim.state"))
    assert (plain["noise_ppm"], plain["noise_seed"], plain["wear_ppm_per_ml"]) == (0, 1, 0)


def test_steplog_returns_per_step_volumes_that_vary_and_average_to_nominal():
    sim, times, volumes, replies, moved = _recorded_day(noise_ppm=20_000, noise_seed=7)
    assert len(times) == len(volumes) == 5000
    assert replies == [(4096, 904), (904, 0)]           # drained in bounded replies, index for index
    assert sum(volumes) == moved                         # the log is what truly left the outlet
    assert min(volumes) >= 49_000 and max(volumes) <= 51_000   # +/- 2 % of 50 000 pL
    assert len(set(volumes)) > 1000                      # they vary
    mean = sum(volumes) // len(volumes)
    assert abs(mean - NOMINAL_PL) <= 50, mean            # uniform noise averages out: within 0.1 %
    # the firmware does not see the noise: its count is steps x calibration
    status = ok(sim.request("status"))
    assert status["steps"] == 5000 and status["delivered_pl"] == 5000 * NOMINAL_PL


def test_without_noise_every_logged_volume_is_the_true_step():
    _, times, volumes, _, moved = _recorded_day(true_pl_per_step=48_500)
    assert len(times) == 5000 and set(volumes) == {48_500} and moved == 5000 * 48_500


def test_a_seeded_run_is_reproducible_and_sim_pump_seeds_like_the_option():
    a = _recorded_day(noise_ppm=20_000, noise_seed=7)[2]
    b = _recorded_day(noise_ppm=20_000, noise_seed=7)[2]
    c = _recorded_day(noise_ppm=20_000, noise_seed=8)[2]
    assert a == b
    assert a != c
    # the same noise set over the link on a plain simulator, before the first pulse
    sim = filled_sim(0, 2000, 20)
    state = ok(sim.request("sim.pump", noise_ppm=20_000, noise_seed=7))
    assert state["noise_ppm"] == 20_000 and state["noise_seed"] == 7
    ok(sim.request("sim.record", on=1))
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    sim.run_until_s(DAY_S)
    assert _drain(sim)[1] == a
    # seeding again restarts the sequence
    ok(sim.request("sim.pump", noise_seed=7))
    sim.run_until_s(2 * DAY_S)
    assert _drain(sim)[1] == a


def test_wear_lowers_the_volume_per_step_with_ml_pumped_and_replace_tubing_restores_it():
    # 1 % less per mL through the tubing; 2000 mcg/day of 2000 mcg/mL = 1 mL/day (20 000 steps)
    sim = filled_sim(0, 2000, 20, wear_ppm_per_ml=10_000)
    ok(sim.request("sim.record", on=1))
    ok(sim.request("program", mode="continuous", dose_mcg_day=2000, confirm=True))
    count = total = 0
    picked = {}
    for hour in range(6, 49, 6):            # drained every 6 h: a board-sized heap holds that
        sim.run_until_s(hour * 3600)
        for v in _drain(sim)[1]:
            if count % 10_000 == 0:
                picked[count] = v
            count += 1
            total += v
            last = v
    assert count == 40_000
    assert picked[0] == NOMINAL_PL
    tubing_pl = ok(sim.request("sim.state"))["tubing_pl"]
    assert tubing_pl == total
    # the last pulse moved the true step less 1 % per mL moved before it (integer, to the pL)
    before_last = tubing_pl - last
    assert last == NOMINAL_PL - NOMINAL_PL * 10_000 * before_last // 10**15
    assert 48_990 <= last <= 49_030, last              # about 1.98 mL through it: -1.98 %
    assert picked[30_000] < picked[20_000] < picked[10_000] < picked[0]   # falls as the mL add up
    # the firmware still counts its calibration: the mock moved less than it believes
    status = ok(sim.request("status"))
    assert status["delivered_pl"] == 40_000 * NOMINAL_PL > tubing_pl
    # a new tubing: full output again, the mock reports the reset
    state = ok(sim.request("sim.pump", replace_tubing=True))
    assert state["tubing_pl"] == 0 and state["wear_ppm_per_ml"] == 10_000
    sim.run_until_s(2 * DAY_S + 3600)
    after = _drain(sim)[1]
    assert after[0] == NOMINAL_PL and len(after) > 500


def test_sim_pump_refuses_bad_values_with_clear_errors_and_changes_nothing():
    sim = make_sim()
    ok(sim.request("sim.pump", noise_ppm=1_000, noise_seed=3, wear_ppm_per_ml=500))
    bad = (
        ({"noise_ppm": -1}, E_ARG_RANGE, "noise_ppm"),
        ({"noise_ppm": 1_000_001}, E_ARG_RANGE, "noise_ppm"),
        ({"noise_ppm": 2.5}, E_ARG_TYPE, "noise_ppm"),
        ({"noise_ppm": "20000"}, E_ARG_TYPE, "noise_ppm"),
        ({"noise_seed": 1 << 32}, E_ARG_RANGE, "noise_seed"),
        ({"wear_ppm_per_ml": -5}, E_ARG_RANGE, "wear_ppm_per_ml"),
        ({"wear_ppm_per_ml": True}, E_ARG_TYPE, "wear_ppm_per_ml"),
        ({"replace_tubing": 1}, E_ARG_TYPE, "replace_tubing"),
        ({"true_pl_per_step": 0}, E_ARG_RANGE, "true_pl_per_step"),
        ({"noise_pmm": 20_000}, E_ARG_UNKNOWN, "noise_pmm"),
        # one bad value refuses the whole request: the good ones are not applied either
        ({"noise_ppm": 30_000, "wear_ppm_per_ml": 2_000_000}, E_ARG_RANGE, "wear_ppm_per_ml"),
        ({"noise_ppm": 30_000, "replace_tubing": "yes"}, E_ARG_TYPE, "replace_tubing"),
    )
    for args, code, name in bad:
        reply = refused(sim.request("sim.pump", **args), code)
        assert name in reply["msg"], (args, reply)
    state = ok(sim.request("sim.state"))
    assert (state["noise_ppm"], state["noise_seed"], state["wear_ppm_per_ml"]) == (1_000, 3, 500), state


def test_sim_record_off_stops_times_and_volumes():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("sim.record", on=1))
    sim.run_until_s(3600)
    assert len(_drain(sim)[1]) > 100
    assert ok(sim.request("sim.record", on=0))["recording"] is False
    assert sim.mock_pump.step_times is None and sim.mock_pump.step_volumes is None
    refused(sim.request("sim.steplog"), E_STATE)
    # a step log started in code without volumes keeps the old reply (times only)
    sim.mock_pump.record_steps(sim.clock)
    sim.run_until_s(7200)
    reply = ok(sim.request("sim.steplog"))
    assert len(reply["times_ms"]) > 100 and "volumes_pl" not in reply


def test_battery_drain_lowers_the_reported_voltage_by_the_integer_amount():
    sim = make_sim(battery_drain_uv_per_day=2_500)       # 2.5 mV a day from 4000 mV
    for days, expected_mv in ((0, 4000), (10, 3975), (37, 3908), (100, 3750)):
        sim.run_until_s(days * DAY_S)
        status = ok(sim.request("status"))
        # uV/day x whole seconds // (86 400 s x 1000 uV/mV): 37 days is 92.5 mV, floored to 92
        assert expected_mv == 4000 - 2_500 * days * DAY_S // 86_400_000
        assert status["battery_mv"] == expected_mv, (days, status["battery_mv"])
    # the firmware's daily trend forecasts ERI (3600 mV) at 160 days
    due_s = ok(sim.request("status"))["battery_eri_due_s"]
    assert due_s is not None and abs(due_s - 160 * DAY_S) <= DAY_S, due_s


def test_battery_drain_reaches_eri_and_the_firmware_alarms():
    sim = make_sim(battery_drain_uv_per_day=40_000)      # 40 mV a day: 3599 mV just after day 10
    sim.run_until_s(9 * DAY_S)
    assert ok(sim.request("status"))["alarms"] == []
    sim.run_until_s(11 * DAY_S)
    raised = [n for n in sim.notices if n["notice"] == "alarm_raise"]
    assert [n["code"] for n in raised] == ["BATTERY_ERI"], raised
    assert 10 * DAY_S < raised[0]["t_s"] < 10 * DAY_S + 3600, raised[0]["t_s"]


def test_mock_battery_drain_is_integer_and_stops_at_zero():
    clock = VirtualClock()
    battery = MockBattery(clock, start_mv=4000, drain_uv_per_day=4_000_000)
    clock.advance_ms(DAY_S * 1000 // 2)
    assert battery.read_mv() == 2000
    clock.advance_ms(3 * DAY_S * 1000)
    assert battery.read_mv() == 0
    battery.override_mv = 3550
    assert battery.read_mv() == 3550
