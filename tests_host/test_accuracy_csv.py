"""Balance CSV files: the documented formats load; anything malformed is refused with its line."""

import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl import balance_csv
from pumpctl.balance_csv import BalanceCsvError

ROOT = Path(__file__).resolve().parents[1]
PUMPCTL = str(Path(sys.executable).parent / "pumpctl")      # the console script

GOOD_LOG = """# bench 3, syringe of water, balance XS205
# started 09:12

time_s,mass_g,density_g_ml
0,12.34561,0.9982
30,12.34725,0.9982
60.5,12.34890,0.9982
"""


def test_good_log_loads_with_line_numbers_and_volumes():
    log = balance_csv.parse_log(GOOD_LOG, "b.csv")
    assert log.times_s == [0, 30, 60.5]
    assert log.lines == [5, 6, 7]
    assert log.density_g_ml == 0.9982
    volumes = log.volumes_ul()
    assert volumes[0] == 0
    assert volumes[2] == pytest.approx((12.34890 - 12.34561) / 0.9982 * 1000)


def test_density_column_is_optional_and_then_must_be_given():
    log = balance_csv.parse_log("time_s,mass_g\n0,1.0\n30,1.001\n", "b.csv")
    assert log.density_g_ml is None
    assert log.volumes_ul(1.0)[1] == pytest.approx(1.0)
    with pytest.raises(BalanceCsvError, match="density"):
        log.volumes_ul()


@pytest.mark.parametrize("text, line, words", [
    ("", 0, "no header"),
    ("# only a comment\n", 0, "no header"),
    ("time,mass\n0,1\n", 1, "bad header"),
    ("time_s,mass_g,volume_ul\n0,1,2\n", 1, "bad header"),
    ("time_s,time_s,mass_g\n", 1, "bad header"),
    ("time_s,mass_g\n0,1.0\n30,1.1,7\n", 3, "3 fields"),
    ("time_s,mass_g\n0,1.0\n\n30,abc\n", 4, "not a number"),
    ("time_s,mass_g\n0,1.0\n30,nan\n", 3, "not finite"),
    ("time_s,mass_g\n0,1.0\n30,1.1\n30,1.2\n", 4, "does not come after"),
    ("time_s,mass_g\n-5,1.0\n30,1.1\n", 2, "negative"),
    ("time_s,mass_g,density_g_ml\n0,1.0,0.998\n30,1.1,1.02\n", 3, "changed"),
    ("time_s,mass_g,density_g_ml\n0,1.0,9.5\n", 2, "outside"),
    ("time_s,mass_g\n0,1.0\n", 0, "two readings"),
])
def test_malformed_log_is_refused_with_line_number(text, line, words):
    with pytest.raises(BalanceCsvError) as err:
        balance_csv.parse_log(text, "bench.csv")
    assert err.value.line == line
    assert (("bench.csv:%d:" % line) if line else "bench.csv:") in str(err.value)
    assert words in str(err.value)


def test_weighings_format():
    rows = balance_csv.parse_weighings("run,steps,mass_g\n1,2000,0.09701\n2,2000,0.09699\n")
    assert [(w.run, w.steps, w.mass_g) for w in rows] == [(1, 2000, 0.09701), (2, 2000, 0.09699)]
    only_mass = balance_csv.parse_weighings("mass_g\n0.1\n0.2\n")
    assert [(w.run, w.steps) for w in only_mass] == [(1, None), (2, None)]


@pytest.mark.parametrize("text, line, words", [
    ("run,steps\n1,2000\n", 1, "bad header"),
    ("mass_g\n0\n", 2, "above 0"),
    ("steps,mass_g\n20.5,0.1\n", 2, "whole number"),
    ("mass_g\n", 0, "no weighings"),
])
def test_malformed_weighings_are_refused(text, line, words):
    with pytest.raises(BalanceCsvError) as err:
        balance_csv.parse_weighings(text, "w.csv")
    assert err.value.line == line and words in str(err.value)


def test_format_log_round_trip():
    text = balance_csv.format_log([0, 30, 60], [1.0, 1.000123, 1.000246], 0.9982)
    log = balance_csv.parse_log(text)
    assert log.masses_g == [1.0, 1.000123, 1.000246] and log.density_g_ml == 0.9982


def test_cli_names_the_bad_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time_s,mass_g\n0,1.0\n30,1.00010\n60,one\n")
    proc = subprocess.run([PUMPCTL, "accuracy", "--csv", str(path), "--rate-ul-h", "12"],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert proc.returncode == 2
    assert "bad.csv:4:" in proc.stderr and "not a number" in proc.stderr
