"""Scenario capabilities (issue 14): a `calibrate` verb, `samples` / `sample` read partway through a run,
and the dose at the catheter tip (`tip_delivered_mcg`: the catheter's dead space as a FIFO). Expected
values are worked out from the rates, volumes and concentrations, not read back from the code."""

import json

import pytest
from cli_helpers import as_json, one_line_error, pumpctl
from pumpctl import scenario as scenario_mod
from pumpctl.catheter import CatheterFifo

DAY = 86400
UL = 1_000_000        # pL per uL


def write(tmp_path, data):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    return str(path)


# --- the FIFO ---------------------------------------------------------------------------------------

def test_nothing_reaches_the_tip_until_the_catheter_volume_is_pushed():
    fifo = CatheterFifo(200 * UL)                             # 200 uL of drug-free fluid to push first
    assert fifo.feed(150 * UL, 300 * 10**6) == 0             # 150 uL of 2000 mcg/mL = 300 mcg, all inside
    assert fifo.feed(250 * UL, 500 * 10**6) == 100 * 10**6   # 50 uL of drug out at 2 mcg/uL = 100 mcg
    assert fifo.held_pg() == 400 * 10**6 and fifo.tip_pl == 250 * UL - 200 * UL + 200 * UL


def test_a_concentration_change_reaches_the_tip_one_catheter_volume_later():
    fifo = CatheterFifo(200 * UL)
    fifo.feed(1000 * UL, 2000 * 10**6)                        # 1 mL at 2000 mcg/mL: 800 uL out = 1600 mcg
    assert fifo.tip_pg == 1600 * 10**6
    fifo.feed(1100 * UL, 2100 * 10**6)                        # 100 uL at 1000 mcg/mL pushes 100 uL of the old
    assert fifo.tip_pg == 1800 * 10**6
    fifo.feed(1400 * UL, 2400 * 10**6)                        # 300 uL more: 100 uL old, then 200 uL new
    assert fifo.tip_pg == (1800 + 200 + 200) * 10**6
    assert fifo.tip_pg + fifo.held_pg() == 2400 * 10**6        # nothing lost, nothing made up


def test_partial_segments_keep_the_mass_exact_and_a_smaller_catheter_pushes_out():
    fifo = CatheterFifo(3)
    fifo.feed(7, 10)                                          # 3 pL of nothing, then 4 of 7 pL holding 10 pg
    assert fifo.tip_pg == 10 * 4 // 7 and fifo.tip_pg + fifo.held_pg() == 10
    fifo.resize(1)                                            # 2 of the 3 pL left go out: 5 pg * 2 // 3
    assert fifo.tip_pl == 9 and fifo.tip_pg == 5 + 3 and fifo.held_pg() == 2
    with pytest.raises(ValueError):
        CatheterFifo(-1)


# --- samples and the tip through the CLI --------------------------------------------------------------

BRIDGE = {
    "name": "bridge to 1000 mcg/mL on day 5",
    "actions": [
        {"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
        {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500},
        {"at": "5d", "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 1000, "bridge": True},
        {"at": "5d", "do": "sample", "label": "after the refill"},
    ],
    "samples": ["1d", "2d", "5d12h", "6d"],
    "until": "8d",
}


def test_samples_and_the_dose_at_the_catheter_tip_through_a_bridge(tmp_path):
    report = as_json(pumpctl("run", write(tmp_path, BRIDGE), "--json", "--quiet"))
    # 500 mcg/day at 2000 mcg/mL = 250 uL/day; the 200 uL catheter starts drug-free. On day 5 the bridge
    # pushes 200 uL of the new 1000 mcg/mL solution at the old rate (250 uL/day, 0.8 d) while the tip
    # still gives the old 2000 mcg/mL; then 500 uL/day of 1000 mcg/mL.
    expect = {  # t: (label, uL pumped, mcg left the pump, mcg at the tip)
        DAY: (None, 250, 500, (250 - 200) * 2),
        2 * DAY: (None, 500, 1000, (500 - 200) * 2),
        5 * DAY: ("after the refill", 1250, 2500, (1250 - 200) * 2),
        5 * DAY + DAY // 2: (None, 1375, 2500 + 125, (1375 - 200) * 2),
        6 * DAY: (None, 1250 + 200 + 100, 2500 + 200 + 100, 1250 * 2 + 100 * 1),
    }
    samples = report["samples"]
    assert [s["t_s"] for s in samples] == sorted(expect)
    for s in samples:
        label, ul, out_mcg, tip_mcg = expect[s["t_s"]]
        assert s.get("label") == label
        assert s["delivered_ul"] == pytest.approx(ul) and s["delivered_mcg"] == pytest.approx(out_mcg)
        assert s["tip_delivered_mcg"] == pytest.approx(tip_mcg), s["t_s"]
        assert set(s) >= {"reservoir_ul", "mock_delivered_ul", "steps", "alarms_active", "therapy", "rate_ul_h"}
    # the end: two more days at 500 uL/day of 1000 mcg/mL; the tip 200 uL behind, all of it new drug now
    assert report["delivered_mcg"] == pytest.approx(2800 + 1000)
    assert report["tip_delivered_mcg"] == pytest.approx(3800 - 200)
    human = " ".join(pumpctl("run", write(tmp_path, BRIDGE), "--quiet").stdout.split())
    assert "drug at the catheter tip │ 3600.000 mcg" in human and "after the refill" in human


# --- the calibrate verb -------------------------------------------------------------------------------

CALIBRATE = {
    "name": "calibrate a pump 3 % low on saline, then treat",
    "pump": {"true_nl_per_step": 48.5},
    "actions": [
        {"at": 0, "do": "refill", "drug": "saline", "volume_ml": 20, "conc_mcg_ml": 1},
        {"at": 0, "do": "calibrate", "runs": 3, "steps": 2000},
        {"at": "1h", "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
        {"at": "1h", "do": "program", "mode": "continuous", "dose_mcg_day": 500},
    ],
    "samples": ["1h"],
    "until": "2d",
}


def test_the_calibrate_verb_weighs_writes_and_the_pump_then_delivers_true(tmp_path):
    report = as_json(pumpctl("run", write(tmp_path, CALIBRATE), "--json", "--quiet"))
    assert report["refused"] == []
    (cal,) = report["calibrations"]
    assert cal["runs"] == 3 and cal["steps"] == 2000 and cal["old_nl_per_step"] == 50
    assert cal["nl_per_step"] == pytest.approx(48.5, abs=0.01)       # the balance rounds to 0.01 mg
    assert cal["written_nl_per_step"] == round(cal["nl_per_step"], 3) == report["step_nl"]
    # 3 runs of 2000 steps at the maximum rate (1000 uL/h): well inside the first hour
    assert 3 * 2000 * 50e-3 / 1000 * 3600 < cal["end_s"] < 3600
    # the calibration runs were counted at the old 50 nL/step (6000 steps: 300 uL counted, 291 uL moved);
    # from the treatment on (sample at 1h), the firmware's count and the volume truly moved agree to a step
    (start,) = report["samples"]
    assert start["delivered_ul"] == pytest.approx(300) and start["mock_delivered_ul"] == pytest.approx(291)
    counted = report["delivered_ul"] - start["delivered_ul"]
    moved = report["mock_delivered_ul"] - start["mock_delivered_ul"]
    assert counted == pytest.approx(500 / 2000 * 1000 * (2 * DAY - 3600) / DAY, abs=0.05)     # 250 uL/day
    assert abs(moved - counted) <= 0.0485


def test_an_action_inside_the_calibration_stops_the_run(tmp_path):
    data = dict(CALIBRATE, actions=CALIBRATE["actions"][:2] + [dict(CALIBRATE["actions"][2], at="5m")])
    line = one_line_error(pumpctl("run", write(tmp_path, data), "--quiet"), 2)
    assert "actions[2] (refill)" in line and "inside the calibration of actions[1]" in line


def test_calibrate_is_refused_while_the_therapy_runs(tmp_path):
    data = {"actions": [{"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
                        {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 500},
                        {"at": "1h", "do": "calibrate"}], "until": "2h"}
    report = as_json(pumpctl("run", write(tmp_path, data), "--json", "--quiet"))
    assert [(r["index"], r["error"]) for r in report["refused"]] == [(2, "E_STATE")]
    assert report["calibrations"] == []


def test_scenario_numbers_must_be_finite_and_counts_whole():
    base = {"actions": [{"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": float("inf")}],
            "until": "1d"}
    with pytest.raises(scenario_mod.ScenarioError, match=r"actions\[0\].*finite number"):
        scenario_mod.parse(base)
    with pytest.raises(scenario_mod.ScenarioError, match="whole number of at least 1"):
        scenario_mod.parse({"actions": [{"at": 0, "do": "calibrate", "steps": 2.5}], "until": "1d"})
    parsed = scenario_mod.parse({"actions": [], "samples": ["12h", 60], "until": "1d"})
    assert [(a.verb, a.at_s) for a in parsed.actions] == [("sample", 60), ("sample", 43200)]


def test_the_bundled_bench_scenario_uses_them_all():
    sc = scenario_mod.load(str(scenario_mod.REPO_ROOT / "scenarios" / "bench_calibrate_bridge_60d.json"))
    verbs = [a.verb for a in sc.actions]
    assert {"calibrate", "sample", "prime"} <= set(verbs) and verbs.count("sample") == 5 and sc.warnings == []
