"""`pumpctl report`: a scenario run to Markdown with tables and PNGs; the long-run scenarios."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl import mdreport
from pumpctl import scenario as scenario_mod
from pumpctl.timefmt import parse_time
from test_plots import read_ihdr

ROOT = Path(__file__).resolve().parents[1]
PUMPCTL = str(Path(sys.executable).parent / "pumpctl")      # the console script
DAY = 86400

SHORT = {
    "name": "100 days: titration, bolus, low reservoir, refill, battery ERI",
    "pump": {"reservoir_capacity_ml": 20, "true_nl_per_step": 49},
    "actions": [
        {"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
        {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 400},
        {"at": "10d9h", "do": "bolus", "dose_mcg": 30, "duration": "2h"},
        {"at": "20d", "do": "program", "mode": "continuous", "dose_mcg_day": 500},
        {"at": "78d10h", "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000},
        {"at": "90d", "do": "fault", "fault": "battery_low"},
    ],
    "until": "100d",
}


@pytest.fixture(scope="module")
def short_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = mdreport.write_report(scenario_mod.parse(SHORT), str(out), interp="micropython")
    return paths, json.loads(Path(paths["json"]).read_text()), Path(paths["markdown"]).read_text()


def test_report_files_and_pngs(short_report):
    paths, data, md = short_report
    for name, size in (("timeline", (1300, 900)), ("trumpet", (1100, 450))):
        width, height, _, _, nbytes = read_ihdr(paths[name])
        assert (width, height) == size and nbytes > 20_000
        assert "](%s.png)" % name in md


def test_samples_follow_the_run(short_report):
    _, data, _ = short_report
    samples, report = data["samples"], data["report"]
    days = [s["t_s"] // DAY for s in samples]
    assert days[0] == 0 and days[-1] == 100 and set(range(101)) <= set(days)
    assert samples[-1]["delivered_pl"] == round(report["delivered_ul"] * 1e6)
    assert samples[-1]["mock_moved_pl"] == round(report["mock_delivered_ul"] * 1e6)
    # 400 mcg/day at 2000 mcg/mL = 200 uL/day, from the firmware's count between day samples
    day5 = [s for s in samples if s["t_s"] in (5 * DAY, 6 * DAY)]
    assert day5[1]["delivered_pl"] - day5[0]["delivered_pl"] == 200_000_000


def _table_rows(md, heading):
    section = md.split("## " + heading + "\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_markdown_tables_hold_the_events(short_report):
    _, data, md = short_report
    assert md.startswith("# Bench report: 100 days")
    refills = _table_rows(md, "Refills")
    assert len(refills) == 2 and refills[1].startswith("| 78d 10:00:00 | baclofen | 2000 | 20.000 |")
    programs = _table_rows(md, "Programme changes")
    assert len(programs) == 2 and "continuous 500.000 mcg/day" in programs[1]
    boluses = _table_rows(md, "Boluses")
    assert len(boluses) == 1 and "| 30.000 |" in boluses[0]
    alarms = {row.split(" | ")[1]: row for row in _table_rows(md, "Alarms")}
    assert "LOW_RESERVOIR" in alarms and "78d 10:00:00" in alarms["LOW_RESERVOIR"]   # cleared by the refill
    assert "BATTERY_ERI" in alarms
    # delivered per 30-day period adds up to the total, and shows the mock's 2 % shortfall
    periods = _table_rows(md, "Delivered per period")
    total_ml = sum(float(row.split(" | ")[2]) for row in periods)
    assert total_ml == pytest.approx(data["report"]["delivered_ul"] / 1000, abs=0.002)
    assert all(row.split(" | ")[4] == "-2.00" for row in periods)
    acc = md.split("## Accuracy (IEC 60601-2-24)", 1)[1]
    assert re.search(r"Flow-rate error over the second hour: \*\*-2\.0\d %\*\*", acc)


def test_cli_report_without_accuracy(tmp_path):
    path = tmp_path / "s.json"
    short = dict(SHORT, until="30d", actions=SHORT["actions"][:4])
    path.write_text(json.dumps(short))
    proc = subprocess.run([PUMPCTL, "report", str(path), "--out", str(tmp_path / "r"),
                           "--no-accuracy", "--quiet"], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "report.md" in proc.stdout and not (tmp_path / "r" / "trumpet.png").exists()
    assert "## Accuracy" not in (tmp_path / "r" / "report.md").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(SHORT, actions=[{"at": 0, "do": "explode"}])))
    proc = subprocess.run([PUMPCTL, "report", str(bad), "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert proc.returncode == 2 and "actions[0]" in proc.stderr


LONGRUNS = sorted((ROOT / "scenarios").glob("longrun_*.json"))


@pytest.mark.parametrize("path", LONGRUNS, ids=[p.name for p in LONGRUNS])
def test_longrun_scenarios_span_seven_years_with_refills_every_2_to_6_months(path):
    sc = scenario_mod.load(str(path))
    assert sc.until_s >= 7 * 365 * DAY
    refills = [a.at_s for a in sc.actions if a.verb == "refill"]
    gaps_days = [(b - a) / DAY for a, b in zip(refills, refills[1:])]
    assert len(refills) >= 15 and min(gaps_days) >= 59 and max(gaps_days) <= 184, gaps_days
    doses = {json.dumps(a.args, sort_keys=True) for a in sc.actions if a.verb == "program"}
    assert len(doses) >= 10
    assert any(a.verb == "bolus" for a in sc.actions)


def test_faults_scenario_runs_the_battery_down_and_clears_faults():
    sc = scenario_mod.load(str(ROOT / "scenarios" / "longrun_7y_faults.json"))
    faults = [(a.at_s, a.args["fault"]) for a in sc.actions if a.verb == "fault"]
    names = [f for _, f in faults]
    for name in ("motor_stall", "occlusion", "disconnect", "battery_low", "battery_eos"):
        assert name in names
    assert names.index("battery_low") < names.index("battery_eos")
    assert faults[-1][1] == "battery_eos" and faults[-1][0] > 6.5 * 365 * DAY


def test_first_months_of_the_faults_scenario_report(tmp_path):
    data = json.loads((ROOT / "scenarios" / "longrun_7y_faults.json").read_text())
    data["until"] = "160d"
    data["actions"] = [a for a in data["actions"] if parse_time(a["at"]) <= 160 * DAY]
    paths = mdreport.write_report(scenario_mod.parse(data), str(tmp_path), with_accuracy=False)
    md = Path(paths["markdown"]).read_text()
    report = json.loads(Path(paths["json"]).read_text())["report"]
    assert report["refused"] == [], report["refused"]
    codes = [row.split(" | ")[1] for row in _table_rows(md, "Alarms")]
    assert "MOTOR_STALL" in codes
    stops = _table_rows(md, "Delivery stops (seen at the daily samples)")
    assert any("motor stall" in row for row in stops), stops
    assert len(_table_rows(md, "Refills")) == 3
    read_ihdr(paths["timeline"])


def test_stop_rows_group_blocked_spans():
    samples = [{"t_s": t * DAY, "stopped_by": by} for t, by in (
        (0, []), (1, ["motor stall"]), (2, ["motor stall", "occlusion"]), (3, []), (4, ["battery EOS"]))]
    assert mdreport.stop_rows(samples) == [
        ("1d 00:00:00", "3d 00:00:00", "motor stall, occlusion"),
        ("4d 00:00:00", "end (still stopped)", "battery EOS")]
