"""Bench realism through pumpctl: the scenario "pump" keys, the subprocess simulator's options and bench
commands on both interpreters, the runner's public sampling hook, `pumpctl calibrate --tubing-service-ml`.
(tests_host/fw/test_sim_realism.py checks the simulator board itself on CPython and MicroPython.)"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl import accuracy, calibrate, mdreport, runner
from pumpctl import scenario as scenario_mod
from pumpctl.link import PumpLink, sim_command

from boards.sim.bench import REALISM_LIMITS

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400
REALISM = {"noise_ppm": 20_000, "noise_seed": 7, "wear_ppm_per_ml": 4_000, "battery_drain_uv_per_day": 2_500}


def pumpctl(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pumpctl.cli"] + list(args), capture_output=True, text=True,
                          cwd=str(ROOT), timeout=timeout)


def scenario(until="30d", pump=None, actions=None):
    return {
        "name": "realism",
        "pump": dict(REALISM) if pump is None else pump,
        "actions": actions if actions is not None else [
            {"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
            {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500},   # 250 uL/day
        ],
        "until": until,
    }


# --- one table of ranges ----------------------------------------------------------------------------

def test_realism_ranges_agree_between_simulator_scenario_and_runner():
    for key, limits in REALISM_LIMITS.items():
        assert scenario_mod.PUMP_SETTINGS[key] is limits, key          # the simulator's table, not a copy
    assert runner.REALISM_OPTIONS == tuple(REALISM_LIMITS)
    main_py = (ROOT / "boards" / "sim" / "main.py").read_text()
    for key in REALISM_LIMITS:
        assert '"%s"' % key in main_py.split("_OPTIONS = ", 1)[1].split(")", 1)[0], key


def test_fault_names_have_one_source_the_simulator_bench():
    from pumpctl import cli_sim
    from pumpctl.ui import commands as ui_commands

    from boards.sim import bench
    assert scenario_mod.FAULTS is bench.FAULTS and cli_sim.FAULTS is bench.FAULTS
    # the dashboard offers them all but a failing flash (as before the single source)
    assert ui_commands.FAULTS == ("motor_stall", "occlusion", "disconnect", "battery_low", "battery_eos", "clear")
    assert set(ui_commands.FAULTS) == set(bench.FAULTS) - {"flash_fail"}
    for path in ("tools/pumpctl/scenario.py", "tools/pumpctl/cli_sim.py", "tools/pumpctl/ui/commands.py",
                 "tools/pumpctl/runner.py"):
        text = (ROOT / path).read_text()
        assert '"motor_stall"' not in text and '"battery_drain_uv_per_day"' not in text, path


# --- scenario files -----------------------------------------------------------------------------------

def test_scenario_pump_realism_keys_map_to_simulator_options():
    data = scenario(pump={"reservoir_capacity_ml": 40, "true_nl_per_step": 48.5, "noise_ppm": 20_000,
                          "noise_seed": 7.0, "wear_ppm_per_ml": 2_000, "battery_drain_uv_per_day": 160})
    sc = scenario_mod.parse(data)
    assert sc.pump["noise_seed"] == 7 and isinstance(sc.pump["noise_seed"], int)   # 7.0 is a whole number
    assert runner.sim_options(sc, start_ticks=5) == {
        "start_ticks": 5, "capacity_nl": 40_000_000, "true_pl_per_step": 48_500, "noise_ppm": 20_000,
        "noise_seed": 7, "wear_ppm_per_ml": 2_000, "battery_drain_uv_per_day": 160}
    assert runner.sim_options(scenario_mod.parse(scenario(pump={}))) == {"start_ticks": 0}
    # 0 is allowed for the realism keys (off); the volumes must stay above 0
    assert scenario_mod.parse(scenario(pump={"noise_ppm": 0, "noise_seed": 0})).pump == {"noise_ppm": 0,
                                                                                          "noise_seed": 0}


@pytest.mark.parametrize("key, value, message", [
    ("noise_ppm", -1, "pump: 'noise_ppm' must be a whole number from 0 to 1000000 (got -1)"),
    ("noise_ppm", 2.5, "pump: 'noise_ppm' must be a whole number from 0 to 1000000 (got 2.5)"),
    ("noise_ppm", "20000", "pump: 'noise_ppm' must be a whole number from 0 to 1000000 (got \"20000\")"),
    ("noise_ppm", None, "pump: 'noise_ppm' must be a whole number from 0 to 1000000 (got null)"),
    ("noise_seed", 2**32, "pump: 'noise_seed' must be a whole number from 0 to 4294967295 (got 4294967296)"),
    ("wear_ppm_per_ml", True, "pump: 'wear_ppm_per_ml' must be a whole number from 0 to 1000000 (got true)"),
    ("wear_ppm_per_ml", 1_000_001, "pump: 'wear_ppm_per_ml' must be a whole number from 0 to 1000000"),
    ("battery_drain_uv_per_day", 4_000_001,
     "pump: 'battery_drain_uv_per_day' must be a whole number from 0 to 4000000 (got 4000001)"),
    ("battery_drain_uv_per_day", -160, "'battery_drain_uv_per_day' must be a whole number from 0 to 4000000"),
    ("true_nl_per_step", 0, "pump: 'true_nl_per_step' must be a positive number (got 0)"),
    ("noise", 5, "pump: unknown setting 'noise' (known: battery_drain_uv_per_day, nl_per_step, noise_ppm,"),
])
def test_bad_pump_settings_are_refused_with_a_clear_message(key, value, message):
    with pytest.raises(scenario_mod.ScenarioError) as err:
        scenario_mod.parse(scenario(pump={key: value}))
    assert message in str(err.value)


def test_cli_refuses_a_scenario_with_bad_realism_before_it_runs(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(scenario(pump={"noise_ppm": -5})))
    proc = pumpctl("run", str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'noise_ppm' must be a whole number from 0 to 1000000 (got -5)" in proc.stderr, proc.stderr


# --- the subprocess simulator ---------------------------------------------------------------------------

@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_simulator_process_takes_the_options_and_refuses_bad_ones(interp):
    proc = subprocess.run(sim_command(interp, noise_ppm=-1), capture_output=True, text=True, cwd=str(ROOT),
                          input="", timeout=60)
    assert proc.returncode == 2 and "noise_ppm must be between 0 and 1000000 (got -1)" in proc.stderr, proc.stderr
    link = PumpLink.simulator(interp, **REALISM)
    try:
        state = link.call("sim.state")
        assert (state["noise_ppm"], state["noise_seed"], state["wear_ppm_per_ml"]) == (20_000, 7, 4_000)
        link.call("sim.run", until_s=37 * DAY)
        assert link.call("status")["battery_mv"] == 4000 - 2_500 * 37 * DAY // 86_400_000 == 3908
        bad = link.request("sim.pump", noise_ppm=-1)
        assert bad["error"] == "E_ARG_RANGE" and "noise_ppm" in bad["msg"]
        bad = link.request("sim.pump", replace_tubing="yes")
        assert bad["error"] == "E_ARG_TYPE" and "replace_tubing" in bad["msg"]
        state = link.call("sim.pump", noise_ppm=1_000, noise_seed=9, replace_tubing=True)
        assert (state["noise_ppm"], state["noise_seed"], state["tubing_pl"]) == (1_000, 9, 0)
    finally:
        assert link.close()[0] == 0


def test_noisy_worn_accuracy_test_is_the_same_on_every_interpreter():
    """The per-pulse volumes travel through sim.steplog; the seeded noise makes the same pulses on
    MicroPython, CPython and in process, whether set as options or over the link (sim.pump)."""
    runs = {}
    for interp, how in (("inprocess", "options"), ("cpython", "options"), ("micropython", "options"),
                        ("micropython", "sim.pump")):
        if how == "options":
            link = accuracy.open_sim(interp, noise_ppm=20_000, noise_seed=7, wear_ppm_per_ml=4_000)
        else:
            link = accuracy.open_sim(interp)
            accuracy.set_realism(link, noise_ppm=20_000, noise_seed=7, wear_ppm_per_ml=4_000)
        try:
            runs[(interp, how)] = accuracy.measure_on_sim(link, 20.0)
        finally:
            link.close()
    first = runs[("inprocess", "options")]
    assert first["source"] == "steplog with per-pulse volumes"
    for key, run in runs.items():
        assert run["volumes_ul"] == first["volumes_ul"], key
        assert run["source"] == first["source"], key
    # 2 h at 20 uL/h: 40 uL, the worn tubing a trifle below it, the noise not at all on average
    assert first["moved_ul"] == pytest.approx(40.0 * (1 - 0.004 * 0.02), abs=0.05)
    assert first["moved_ul"] != 40.0


# --- scenario runs and the runner's sampling hook ---------------------------------------------------------

def test_runner_on_sample_is_called_at_the_start_every_day_every_action_and_the_end():
    actions = [{"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
               {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500},
               {"at": "1d12h", "do": "program", "mode": "continuous", "dose_mcg_day": 1000}]
    seen = []
    report = runner.Runner(scenario_mod.parse(scenario("3d", pump={}, actions=actions)), interp="cpython",
                           on_sample=lambda t_s, status, mock: seen.append((t_s, status, mock))).run()
    assert [t for t, _, _ in seen] == [0, 0, 0, DAY, 36 * 3600, 36 * 3600, 2 * DAY, 3 * DAY, 3 * DAY]
    assert seen[0][1]["drug"] is None and seen[1][1]["drug"] == "baclofen"
    assert seen[4][1]["rate_nl_day"] == 250_000 and seen[5][1]["rate_nl_day"] == 500_000
    assert seen[-1][1]["delivered_pl"] == round(report["delivered_ul"] * 1e6) == (375 + 750) * 10**6
    assert seen[-1][2]["moved_pl"] == round(report["mock_delivered_ul"] * 1e6)


def test_report_code_uses_only_the_public_runner_hook():
    private = [name for name in vars(mdreport.SamplingRunner) if name.startswith("_") and not name.startswith("__")]
    assert private == []
    source = Path(mdreport.__file__).read_text()
    assert "_pull_log" not in source and "_do(" not in source


def _run_sampled(interp, **pump):
    sampler = mdreport.SamplingRunner(scenario_mod.parse(scenario(pump=dict(REALISM, **pump))), interp=interp)
    return sampler.run(), sampler.samples


def test_scenario_with_noise_wear_and_battery_drain_is_reproducible_and_physical():
    a, samples = _run_sampled("micropython")
    b, _ = _run_sampled("cpython")
    c, _ = _run_sampled("micropython", noise_seed=8)
    # the firmware counts its calibration: 30 days x 250 uL, exactly
    assert a["delivered_ul"] == b["delivered_ul"] == c["delivered_ul"] == 7500.0
    # the worn tubing delivers less: dV/dF = 1 - k V with k = 0.4 % per mL gives V = (1 - e^-kF) / k
    k = 4_000 / 1e6
    expected_ml = (1 - math.exp(-k * 7.5)) / k
    assert a["mock_delivered_ul"] / 1000 == pytest.approx(expected_ml, abs=0.002), a["mock_delivered_ul"]
    # seeded: the same on both interpreters, another seed moves other volumes
    assert a["mock_delivered_ul"] == b["mock_delivered_ul"]
    assert c["mock_delivered_ul"] != a["mock_delivered_ul"]
    assert c["mock_delivered_ul"] == pytest.approx(a["mock_delivered_ul"], abs=0.5)
    # the battery falls 2.5 mV a day, floored to whole mV
    battery = {s["t_s"] // DAY: s["battery_mv"] for s in samples if s["t_s"] % DAY == 0}
    assert battery[0] == 4000 and battery[10] == 3975 and battery[30] == 3925
    assert all(battery[d] == 4000 - 2_500 * d * DAY // 86_400_000 for d in battery), battery


def test_report_names_the_mock_realism(tmp_path):
    paths = mdreport.write_report(scenario_mod.parse(scenario("3d")), str(tmp_path), interp="cpython",
                                  with_accuracy=False)
    md = Path(paths["markdown"]).read_text()
    assert ("| mock pump realism | noise +/-20000 ppm per step (seed 7), tubing wear 4000 ppm per mL, "
            "battery drain 2500 uV per day |") in md
    plain = mdreport.summary_rows({"delivered_ul": 1.0, "mock_delivered_ul": 1.0, "until_s": 0, "interp": "x",
                                   "wall_s": 0, "delivered_mcg": 0, "reservoir_ul": 0, "mock_reservoir_ul": 0,
                                   "step_nl": 50, "true_step_nl": 50, "steps": 0, "pulses": 0, "therapy": None,
                                   "alarms": [], "refused": []})
    assert not any(row[0] == "mock pump realism" for row in plain)


# --- calibrate --tubing-service-ml ------------------------------------------------------------------------

def _events(link, kind):
    reply = link.call("log", since=0, limit=64)
    return [ev for ev in reply["events"] if ev["type"] == kind]


def test_calibration_writes_the_tubing_service_interval_and_the_reminder_follows():
    link = accuracy.open_sim("inprocess", true_pl_per_step=48_500)
    r = calibrate.calibrate(link, 2000, 2, calibrate.SimBalance(link), calibrate.sim_advance(link), fill_ml=20,
                            write=True, tubing_service_ml=0.5)
    assert r["written"] and r["tubing_service_ml"] == 0.5
    config = link.sim.pump.config
    assert config.tubing_service_nl == 500_000 and config.step_pl == round(r["written_nl_per_step"] * 1000)
    changes = _events(link, "set")[-1]["data"]
    assert changes["tubing_service_nl"] == [0, 500_000] and changes["step_pl"][1] == config.step_pl
    # 0.5 mL after the calibration the firmware reminds: 250 uL/day of baclofen makes it 2 days
    link.call("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    link.call("sim.fill", volume_nl=20_000_000)
    link.call("program", mode="continuous", dose_mcg_day=500)
    now_s = link.call("sim.state")["elapsed_ms"] // 1000
    link.call("sim.run", until_s=now_s + 2 * DAY - 3 * 3600)
    assert not [ev for ev in _events(link, "warning") if ev["data"]["code"] == "TUBING_SERVICE"]
    link.call("sim.run", until_s=now_s + 2 * DAY + 3 * 3600)
    warned = [ev for ev in _events(link, "warning") if ev["data"]["code"] == "TUBING_SERVICE"]
    assert len(warned) == 1


def test_tubing_service_interval_needs_write_a_valid_value_and_the_clinician_key():
    class NoCalls:
        keys = {"bench": b"k" * 32}

        def call(self, cmd, **args):
            raise AssertionError("nothing may be sent before the checks: %s" % cmd)

    with pytest.raises(calibrate.CalibrationError, match="clinician key"):
        calibrate.calibrate(NoCalls(), write=True, tubing_service_ml=5)
    with pytest.raises(calibrate.CalibrationError, match="needs write"):
        calibrate.calibrate(NoCalls(), write=False, tubing_service_ml=5)
    for bad in (-1, 10_001, float("nan"), True):
        with pytest.raises(calibrate.CalibrationError, match="0 to 10000 mL"):
            calibrate.check_tubing_service_ml(bad)


@pytest.mark.parametrize("args, needle", [
    (["--sim", "--tubing-service-ml", "50"], "needs --write"),
    (["--sim", "--write", "--tubing-service-ml", "-1"], "0 to 10000 mL"),
    (["--sim", "--write", "--tubing-service-ml", "20000"], "0 to 10000 mL"),
    (["--mass-g", "0.097", "--write", "--tubing-service-ml", "50"], "needs --write"),
])
def test_cli_refuses_a_tubing_interval_it_cannot_write(args, needle):
    proc = pumpctl("calibrate", *args, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr


def test_cli_sim_calibration_sets_the_tubing_service_interval():
    proc = pumpctl("calibrate", "--sim", "--interp", "micropython", "--true-nl-per-step", "48.5", "--runs", "2",
                   "--write", "--tubing-service-ml", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["written"] and r["tubing_service_ml"] == 50 and r["nl_per_step"] == pytest.approx(48.5, abs=0.01)
    proc = pumpctl("calibrate", "--sim", "--interp", "micropython", "--runs", "1", "--write",
                   "--tubing-service-ml", "0")
    assert proc.returncode == 0, proc.stderr
    assert "tubing service reminder: off" in proc.stdout
