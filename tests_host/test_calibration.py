"""Calibration: nL/step and its uncertainty from weighed runs; runs on the simulator; the CLI."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl import accuracy, calibrate

ROOT = Path(__file__).resolve().parents[1]


def pumpctl(*args, timeout=300):
    return subprocess.run([str(Path(sys.executable).parent / "pumpctl")] + list(args), capture_output=True, text=True,
                          cwd=str(ROOT), timeout=timeout)


def test_three_runs_mean_spread_and_uncertainty():
    r = calibrate.compute(2000, [0.09700, 0.09710, 0.09690], density_g_ml=1.0, resolution_g=1e-5)
    assert r["nl_per_step_runs"] == pytest.approx([48.5, 48.55, 48.45])
    assert r["nl_per_step"] == pytest.approx(48.5)
    assert r["sd_nl"] == pytest.approx(0.05)
    assert r["u_repeatability_nl"] == pytest.approx(0.05 / math.sqrt(3))
    # two readings rounded to 0.01 mg per weighing: 0.01 mg / sqrt(6) = 4.08 nL of water over 2000 steps
    assert r["u_resolution_nl"] == pytest.approx(10.0 / math.sqrt(6) / 2000 / math.sqrt(3))
    assert r["expanded_nl"] == pytest.approx(2 * math.hypot(0.05 / math.sqrt(3), r["u_resolution_nl"]))
    assert r["expanded_pct"] == pytest.approx(100 * r["expanded_nl"] / 48.5)


def test_density_enters_and_single_run_has_resolution_only():
    r = calibrate.compute([1000], [0.05], density_g_ml=0.9982, resolution_g=1e-4)
    assert r["nl_per_step"] == pytest.approx(0.05 / 0.9982 * 1e6 / 1000)
    assert r["sd_nl"] is None and r["u_repeatability_nl"] is None
    assert r["expanded_nl"] == pytest.approx(2 * 1e-4 / math.sqrt(6) / 0.9982 * 1e6 / 1000)


@pytest.mark.parametrize("steps, masses", [(2000, []), ([2000, 2000], [0.1]), (2000, [0.1, -0.1]), (0, [0.1])])
def test_bad_input_is_refused(steps, masses):
    with pytest.raises(calibrate.CalibrationError):
        calibrate.compute(steps, masses)


def test_typed_masses_skip_garbage():
    answers = iter(["", "abc", "-1", "0.0971", "", "0.0969"])
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    balance = calibrate.ListBalance(ask=ask)
    balance.tare(1)
    assert balance.weigh(1, 2000) == 0.0971
    balance.tare(2)
    assert balance.weigh(2, 2000) == 0.0969
    assert "run 1: mass after 2000 steps in g: " in prompts


def test_sim_calibration_finds_the_true_step_through_noise_and_wear():
    link = accuracy.open_sim("inprocess", true_pl_per_step=48_500)
    accuracy.set_realism(link, noise_ppm=20_000, noise_seed=9)
    r = calibrate.calibrate(link, 2000, 4, calibrate.SimBalance(link, 1.0, 1e-5), calibrate.sim_advance(link),
                            density_g_ml=1.0, fill_ml=20)
    assert r["sd_nl"] > 0.001                        # the runs really differ
    assert abs(r["nl_per_step"] - 48.5) < 0.05
    assert abs(r["nl_per_step"] - 48.5) < 3 * r["expanded_nl"]
    assert r["old_nl_per_step"] == 50.0 and r["change_pct"] == pytest.approx(-3.0, abs=0.1)
    assert not r["written"] and link.call("status")["step_pl"] == 50_000

    worn = accuracy.open_sim("inprocess")
    accuracy.set_realism(worn, wear_ppm_per_ml=5_000)
    worn.sim.mock_pump.set_tubing_pl(8 * 10**9)       # 8 mL through it: 4 % less
    r = calibrate.calibrate(worn, 2000, 2, calibrate.SimBalance(worn, 1.0, 1e-5), calibrate.sim_advance(worn),
                            density_g_ml=1.0, fill_ml=20, write=True)
    mid_ml = (8e9 + worn.sim.mock_pump.tubing_pl) / 2 / 1e9   # the wear goes on during the runs
    assert r["nl_per_step"] == pytest.approx(50 * (1 - 0.005 * mid_ml), abs=0.003)
    assert 47.9 < r["nl_per_step"] < 48.0
    assert worn.call("status")["step_pl"] == round(r["nl_per_step"] * 1000)


def test_calibration_refused_while_therapy_runs():
    link = accuracy.open_sim("inprocess")
    link.call("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    link.call("program", mode="continuous", dose_mcg_day=500)
    with pytest.raises(calibrate.CalibrationError, match="stop the therapy"):
        calibrate.run_steps(link, 100, calibrate.sim_advance(link))


def test_cli_offline_masses_and_weighings_csv(tmp_path):
    proc = pumpctl("calibrate", "--steps", "2000", "--mass-g", "0.0970", "0.0971", "0.0969",
                   "--density-g-ml", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["nl_per_step"] == pytest.approx(48.5) and r["sd_nl"] == pytest.approx(0.05)
    csv = tmp_path / "w.csv"
    csv.write_text("# calibration, bench 2\nrun,steps,mass_g,density_g_ml\n1,1000,0.04850,1.0\n2,3000,0.14550,1.0\n")
    r = json.loads(pumpctl("calibrate", "--weighings", str(csv), "--json").stdout)
    assert r["steps"] == [1000, 3000] and r["nl_per_step_runs"] == pytest.approx([48.5, 48.5])
    bad = tmp_path / "bad.csv"
    bad.write_text("run,mass_g\n1,0.1\n2,heavy\n")
    proc = pumpctl("calibrate", "--weighings", str(bad))
    assert proc.returncode == 2 and "bad.csv:3:" in proc.stderr


@pytest.mark.parametrize("interp", ["inprocess", "micropython"])
def test_cli_sim_calibration_brings_minus_3_percent_back(interp):
    proc = pumpctl("calibrate", "--sim", "--interp", interp, "--true-nl-per-step", "48.5", "--write", "--verify",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["verify"]["before"]["flow_error_pct"] == pytest.approx(-3.0, abs=0.1)
    assert abs(r["verify"]["after"]["flow_error_pct"]) < 0.5
    assert r["written"] and r["verify"]["after"]["step_nl"] == r["written_nl_per_step"]
    assert r["nl_per_step"] == pytest.approx(48.5, abs=0.01)
