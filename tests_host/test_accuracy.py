"""IEC 60601-2-24 analysis: synthetic balance data of known error, and the simulated pump."""

import math
import random

import pytest
from pumpctl import accuracy, balance_csv, calibrate

DENSITY = 0.9982


def balance_readings(volume_ul_at, test_s=7200, interval_s=30, resolution_g=1e-5, jitter_s=0.0, seed=0):
    """Readings of a five-decimal balance (rounded) under a pump that has moved volume_ul_at(t) uL."""
    rng = random.Random(seed)
    times, masses = [], []
    for k in range(test_s // interval_s + 1):
        t = k * interval_s + (rng.uniform(-jitter_s, jitter_s) if 0 < k < test_s // interval_s else 0.0)
        mass = 5.0 + volume_ul_at(t) * DENSITY / 1000.0      # a beaker of 5 g already on the pan
        times.append(t)
        masses.append(round(mass / resolution_g) * resolution_g)
    return times, masses


def analyse_readings(times, masses, rate_ul_h):
    log = balance_csv.parse_log(balance_csv.format_log(times, masses, DENSITY))
    return accuracy.analyse_log(log, rate_ul_h)


@pytest.mark.parametrize("error_pct", [-3.7, 0.0, 2.5, 9.0])
def test_constant_known_error_reproduced_within_0_1_pp(error_pct):
    rate = 600.0   # uL/h
    times, masses = balance_readings(lambda t: rate * (1 + error_pct / 100) * t / 3600)
    result = analyse_readings(times, masses, rate)
    assert abs(result["flow_error_pct"] - error_pct) < 0.1, result["flow_error_pct"]
    assert [r["window_min"] for r in result["trumpet"]] == [2, 5, 11, 19, 31]
    for row in result["trumpet"]:
        assert abs(row["max_error_pct"] - error_pct) < 0.1, row
        assert abs(row["min_error_pct"] - error_pct) < 0.1, row
    # the standard's windows slide by one 30 s sample within the 60 min analysis period
    assert [r["windows"] for r in result["trumpet"]] == [120 - 4 + 1, 120 - 10 + 1, 120 - 22 + 1,
                                                         120 - 38 + 1, 120 - 62 + 1]


def test_periodic_error_matches_closed_form_trumpet():
    """Flow r (1 + e0 + a sin(w t)): the mean error over a window [s, s+P] is
    e0 + a (cos(w s) - cos(w (s+P))) / (w P); the trumpet is its max and min over the window starts."""
    rate, e0, amp, period_s = 600.0, 0.025, 0.04, 13 * 60
    w = 2 * math.pi / period_s

    def volume(t):
        return rate / 3600 * ((1 + e0) * t + amp * (1 - math.cos(w * t)) / w)

    times, masses = balance_readings(volume)
    result = analyse_readings(times, masses, rate)
    hour2 = 100 * (e0 + amp * (math.cos(w * 3600) - math.cos(w * 7200)) / (w * 3600))
    assert abs(result["flow_error_pct"] - hour2) < 0.1
    for row in result["trumpet"]:
        p_s = row["window_min"] * 60
        expected = [100 * (e0 + amp * (math.cos(w * s) - math.cos(w * (s + p_s))) / (w * p_s))
                    for s in range(3600, 7200 - p_s + 1, 30)]
        assert abs(row["max_error_pct"] - max(expected)) < 0.1, (row, max(expected))
        assert abs(row["min_error_pct"] - min(expected)) < 0.1, (row, min(expected))
    spread = [r["max_error_pct"] - r["min_error_pct"] for r in result["trumpet"]]
    assert spread[0] > 5 and spread[-1] < spread[0] / 3   # the trumpet narrows


def test_two_minute_stop_in_the_second_hour():
    rate = 600.0

    def volume(t):   # no flow from 90:00 to 92:00
        moving = t - min(max(t - 5400, 0), 120)
        return rate * moving / 3600

    result = analyse_readings(*balance_readings(volume), rate)
    by_window = {r["window_min"]: r for r in result["trumpet"]}
    assert by_window[2]["min_error_pct"] == pytest.approx(-100, abs=0.1)
    assert by_window[2]["max_error_pct"] == pytest.approx(0, abs=0.1)
    # every 31 min window in 60..120 min overlaps the stop by 1 to 2 minutes
    assert by_window[31]["max_error_pct"] == pytest.approx(-100 / 31, abs=0.1)
    assert by_window[31]["min_error_pct"] == pytest.approx(-200 / 31, abs=0.1)
    assert result["flow_error_pct"] == pytest.approx(-200 / 60, abs=0.1)


def test_irregular_balance_timestamps_are_interpolated():
    rate, error_pct = 600.0, -1.5
    times, masses = balance_readings(lambda t: rate * (1 + error_pct / 100) * t / 3600, jitter_s=4, seed=3)
    assert any(t % 30 for t in times)
    result = analyse_readings(times, masses, rate)
    for row in result["trumpet"]:
        assert abs(row["max_error_pct"] - error_pct) < 0.1 and abs(row["min_error_pct"] - error_pct) < 0.1


def test_gap_in_balance_log_is_refused_with_its_line():
    times, masses = balance_readings(lambda t: t / 6)
    del times[100:104], masses[100:104]                      # 150 s without a reading
    text = balance_csv.format_log(times, masses, DENSITY)
    with pytest.raises(accuracy.AccuracyError) as err:
        accuracy.analyse_log(balance_csv.parse_log(text, "bench.csv"), 600.0)
    assert "bench.csv:102:" in str(err.value) and "150 s" in str(err.value)


def test_too_short_a_test_is_refused():
    times, masses = balance_readings(lambda t: t / 6, test_s=5400)
    with pytest.raises(accuracy.AccuracyError, match="5400 s"):
        analyse_readings(times, masses, 600.0)


def test_grid_from_steps_counts_pulses_at_sample_times():
    times = [10, 30_000, 30_001, 59_999, 60_000, 95_000]
    assert accuracy.grid_from_steps(times, 50_000, 0, 90) == [0, 0.1, 0.25, 0.25]
    assert accuracy.grid_from_steps(times, [1, 2, 3, 4, 5, 6], 0, 60) == [0, 3e-6, 15e-6]


# --- the simulated pump -------------------------------------------------------------------------------

def test_true_step_3_percent_low_shows_minus_3_and_calibration_fixes_it():
    link = accuracy.open_sim("inprocess", true_pl_per_step=48_500)
    before = accuracy.sim_accuracy(link, 20.0)
    assert before["pulses"] == 800 and before["rate_ul_h"] == 20.0
    assert before["flow_error_pct"] == pytest.approx(-3.0, abs=0.1)
    assert before["trumpet"][-1]["max_error_pct"] < -2.5 and before["trumpet"][-1]["min_error_pct"] > -3.5
    result = calibrate.calibrate(link, 2000, 3, calibrate.SimBalance(link), calibrate.sim_advance(link),
                                 fill_ml=20, write=True)
    assert result["nl_per_step"] == pytest.approx(48.5, abs=result["expanded_nl"] + 0.001)
    assert link.call("status")["step_pl"] == round(result["nl_per_step"] * 1000)
    after = accuracy.sim_accuracy(link, 20.0)
    assert abs(after["flow_error_pct"]) < 0.5, after["flow_error_pct"]
    assert after["pulses"] > before["pulses"]          # more steps of the smaller true volume


def test_micropython_simulator_gives_the_same_analysis():
    results = []
    for interp in ("inprocess", "micropython"):
        link = accuracy.open_sim(interp, true_pl_per_step=48_500)
        try:
            results.append(accuracy.sim_accuracy(link, 20.0))
        finally:
            assert link.close()[0] in (0, None)
    a, b = results
    assert a["flow_error_pct"] == b["flow_error_pct"] and a["trumpet"] == b["trumpet"]
    assert b["source"].startswith("steplog")


def test_noise_widens_the_short_windows_but_not_the_mean():
    plain = accuracy.sim_accuracy(accuracy.open_sim("inprocess"), 20.0)
    link = accuracy.open_sim("inprocess")
    accuracy.set_realism(link, noise_ppm=100_000, noise_seed=5)
    noisy = accuracy.sim_accuracy(link, 20.0)
    assert noisy["source"] == "steplog with per-pulse volumes"
    assert abs(plain["flow_error_pct"]) < 0.01
    assert abs(noisy["flow_error_pct"]) < 1.0           # +/-10 % uniform on 400 pulses averages out
    assert noisy["flow_error_pct"] != plain["flow_error_pct"]
    assert noisy["trumpet"][0]["max_error_pct"] - noisy["trumpet"][0]["min_error_pct"] > \
        plain["trumpet"][0]["max_error_pct"] - plain["trumpet"][0]["min_error_pct"]


def test_worn_tubing_shows_as_under_delivery():
    link = accuracy.open_sim("inprocess")
    accuracy.set_realism(link, wear_ppm_per_ml=2_000)    # 0.2 % per mL
    link.sim.mock_pump.set_tubing_pl(15 * 10**9)         # 15 mL through this tubing already: about -3 %
    result = accuracy.sim_accuracy(link, 20.0)
    assert result["flow_error_pct"] == pytest.approx(-3.0, abs=0.1)


class _NoVolumes:
    """A simulator link whose step log has no per-pulse volumes (the subprocess simulator today)."""

    def __init__(self, link):
        self.link = link

    def call(self, cmd, **args):
        reply = self.link.call(cmd, **args)
        reply.pop("volumes_pl", None)
        return reply


def test_varying_pulse_volumes_without_volume_log_are_refused():
    inner = accuracy.open_sim("inprocess")
    inner.sim.mock_pump.noise_ppm = 50_000
    with pytest.raises(accuracy.AccuracyError, match="volumes_pl"):
        accuracy.measure_on_sim(_NoVolumes(inner), 20.0)
    steady = accuracy.measure_on_sim(_NoVolumes(accuracy.open_sim("inprocess", true_pl_per_step=51_000)), 20.0)
    assert steady["source"] == "steplog, constant true step"
    assert accuracy.analyse(steady["volumes_ul"], 20.0)["flow_error_pct"] == pytest.approx(2.0, abs=0.1)


def test_realism_refused_when_the_simulator_ignores_it():
    class Ignoring:
        def call(self, cmd, **args):
            return {"ok": True, "noise_ppm": 0, "wear_ppm_per_ml": 0}
    with pytest.raises(accuracy.AccuracyError, match="inprocess"):
        accuracy.set_realism(Ignoring(), noise_ppm=1000)
