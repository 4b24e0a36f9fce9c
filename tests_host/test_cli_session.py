"""A simulator session as the README's quick start shows it: `pumpctl sim serve`, then every command
against that one simulator (its state kept between commands), and every subcommand's human output in
the user's units (a smoke test of the paths that --json tests never take). All through the console
script, the served simulator included."""

import csv
import io
import re
import signal
import subprocess

import pytest
from cli_helpers import PUMPCTL, ROOT, as_json, clean_env, free_port, one_line_error, pumpctl

DEV = {"PUMPCTL_DEV_KEYS": "1"}


@pytest.fixture
def served():
    """`pumpctl sim serve` on a free port; yields its URL (the first line it prints)."""
    proc = subprocess.Popen([PUMPCTL, "sim", "serve", "--listen", str(free_port())], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT), env=clean_env())
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        hint = proc.stderr.readline() + proc.stderr.readline()
        assert "export PUMPCTL_PORT=%s PUMPCTL_DEV_KEYS=1" % url in hint
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def on(url, *args, keys=True, **kw):
    env = {"PUMPCTL_PORT": url}
    if keys:
        env.update(DEV)
    return pumpctl(*args, env=env, **kw)


def ok(proc):
    assert proc.returncode == 0, (proc.args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


# the protocol's base units and Python's spellings, none of which a person should read in human output
INTERNALS = re.compile(r"_pl\b|_nl\b|_ng\b|_pg\b|_nl_day|_ng_day|\bTrue\b|\bFalse\b|\bNone\b|[{}\[\]]|'")


def human(proc):
    ok(proc)
    assert proc.stdout.strip() and "Traceback" not in proc.stderr, proc.stderr
    found = INTERNALS.findall(proc.stdout)
    assert not found, (proc.args, found, proc.stdout)
    return " ".join(proc.stdout.split())


def test_a_whole_session_keeps_its_state_and_fills_the_mock(served):
    refill = human(on(served, "refill", "--drug", "baclofen", "--conc-mcg-ml", 2000, "--volume-ml", 20))
    assert "mock reservoir │ 20 mL" in refill
    mock = as_json(on(served, "sim", "state", "--json"))
    assert mock["reservoir_pl"] == 20_000_000_000          # the refill filled the simulator's syringe too
    human(on(served, "program", "continuous", "--dose-mcg-day", 500, "--yes"))     # the same pump: no E_NO_DRUG
    assert "simulator at 1d (2024-01-02 00:00 UTC)" in human(on(served, "sim", "run", "--until", "1d"))
    status = human(on(served, "status"))
    for text in ("continuous 500 mcg/day", "10.417 uL/h (250 uL/day)", "19.750 mL of 20.000 mL",
                 "0.250 mL (500 mcg)", "2024-03-13 00:00 UTC (in 71d)"):
        assert text in status, text
    mock = as_json(on(served, "sim", "state", "--json"))
    assert mock["moved_pl"] == 250_000_000 and mock["reservoir_pl"] == 19_750_000_000
    assert "simulator at 1d12h" in human(on(served, "sim", "run", "--for", "12h"))
    rows = list(csv.DictReader(io.StringIO(ok(on(served, "log", "--format", "csv")).stdout)))
    assert [r["type"] for r in rows][-2:] == ["refill", "program"]


def test_refusals_name_the_option_the_user_typed(served):
    ok(on(served, "refill", "--drug", "baclofen", "--conc-mcg-ml", 2000, "--volume-ml", 20))
    soft = one_line_error(on(served, "program", "continuous", "--dose-mcg-day", 1500, "--yes"), 1)
    assert "E_SOFT_LIMIT_DOSE_DAY" in soft and "add --confirm-limit" in soft and '"confirm"' not in soft
    big = one_line_error(on(served, "program", "continuous", "--dose-mcg-day", 1e9, "--yes"), 1)
    assert "--dose-mcg-day" in big and "dose_mcg_day" not in big
    ok(on(served, "program", "continuous", "--dose-mcg-day", 1500, "--yes", "--confirm-limit"))


def test_without_a_key_nothing_is_sent_and_the_message_says_which_options(served):
    before = as_json(on(served, "log", "--format", "json", keys=False))["events"]
    line = one_line_error(on(served, "program", "stopped", "--yes", keys=False), 2)
    assert line == "pumpctl: no clinician key found: use --keys FILE or --dev-keys (a simulator)"
    line = one_line_error(on(served, "sim", "run", "--for", "1h", keys=False), 2)
    assert "no bench or clinician key found" in line
    after = as_json(on(served, "log", "--format", "json", keys=False))["events"]
    assert [e for e in after if e["type"] == "auth_fail"] == [e for e in before if e["type"] == "auth_fail"] == []


def test_every_device_subcommand_has_human_output_in_user_units(served, tmp_path):
    """Each device subcommand's human output once, in a sensible order on one pump."""
    walk = [
        ("info",), ("status",), ("keys", "state"), ("log",),
        ("refill", "--drug", "baclofen", "--conc-mcg-ml", 2000, "--volume-ml", 20),
        ("sim", "state"),
        ("program", "flex", "--step", "00:00=400", "--step", "08:00=600", "--yes"),
        ("sim", "run", "--until", "1d"), ("status",),
        ("bolus", "--dose-mcg", 20, "--duration", "1h"), ("status",),
        ("sim", "run", "--for", "2h"),
        ("set", "--demand-dose-mcg", 20, "--demand-duration", "10m", "--demand-lockout", "1h",
         "--demand-max-per-day", 3, "--low-reservoir-ml", 3),
        ("demand",), ("ack",), ("selftest",), ("set-time", "--wall", "2d"), ("sim", "run", "--for", "15m"),
        ("program", "stopped", "--yes"), ("calibration-run", "--steps", 100), ("sim", "run", "--for", "1h"),
        ("prime", "--volume-ul", 10), ("sim", "run", "--for", "1h"),
        ("sim", "fault", "occlusion"), ("sim", "fault", "clear"), ("sim", "fill", "--volume-ml", 10),
        ("log",), ("status",),
    ]
    outputs = {}
    for args in walk:
        outputs[args] = human(on(served, *args))
    assert "flex (day): 400 mcg from 00:00, 600 mcg from 08:00 per day" in outputs[walk[6]]
    assert "demand: off -> 20 mcg over 10m, lockout 1h, at most 3/day" in outputs[walk[12]]
    assert "jump │ 22h │ │ new │ 2024-01-03 00:00 UTC" in outputs[walk[16]]      # from 1d2h to 2d
    out = tmp_path / "log.txt"
    ok(on(served, "log", "--out", out))
    assert "event log" in out.read_text()


def test_file_and_bench_subcommands_have_human_output(tmp_path):
    keys = tmp_path / "k.json"
    for args in (("keys", "generate", "--out", keys), ("keys", "extract", "--keys", keys, "--role", "patient",
                                                       "--out", tmp_path / "p.json"),
                 ("keys", "dev", "--out", tmp_path / "d.json"), ("ports",)):
        assert ok(pumpctl(*args)).stdout.strip()
    human(pumpctl("accuracy", "--sim", "--interp", "inprocess", "--duration", "2h"))
    human(pumpctl("calibrate", "--sim", "--interp", "inprocess", "--runs", 2, "--write"))
    scenario = ROOT / "scenarios" / "continuous_30d.json"
    out = human(pumpctl("report", scenario, "--out", tmp_path / "r", "--no-accuracy", "--quiet", "--interp", "cpython"))
    assert "wrote %s" % (tmp_path / "r" / "report.md") in out


def test_the_readme_quick_start_session_runs_as_written(served, tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### A simulator session", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines()]
    assert lines[0] == "pumpctl sim serve &" and lines[-2] == "kill %1"       # `served` is that simulator
    env = {}
    outputs = []
    for line in lines[1:]:
        if line.startswith("export "):
            env.update(kv.split("=", 1) for kv in line.replace("socket://127.0.0.1:PORT", served).split()[1:])
        elif line.startswith("pumpctl "):
            args = line.split()[1:]
            if args[0] == "report":
                args[args.index("--out") + 1] = str(tmp_path / "report")
            proc = pumpctl(*args, env=env)
            assert proc.returncode == 0, (line, proc.stderr)
            outputs.append(" ".join(proc.stdout.split()))
    assert env == {"PUMPCTL_PORT": served, "PUMPCTL_DEV_KEYS": "1"}
    status = outputs[3]
    assert "10.417 uL/h (250 uL/day)" in status and "18.250 mL of 20.000 mL" in status   # as the comment says
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "timeline.png").exists()


def test_a_24_step_week_programme_fits_one_signed_frame_from_the_cli(served):
    """The documented maximum of 24 flex steps per cycle (issue 13 item 10), typed as a user would: the
    CLI sends them as compact pairs, the pump takes them all, and the week's steps come back in order."""
    ok(on(served, "refill", "--drug", "baclofen", "--conc-mcg-ml", 2000, "--volume-ml", 20))
    starts_s = [k * 7 * 3600 for k in range(24)]            # every 7 h over the week (the last: Sun 17:00)
    args = ["program", "flex", "--cycle", "week", "--yes", "--json"]
    for k, start_s in enumerate(starts_s):
        args += ["--step", "%d=%d" % (start_s, 400 + 10 * k)]
    ok(on(served, *args))
    therapy = as_json(on(served, "status", "--json"))["therapy"]
    assert therapy["mode"] == "flex" and therapy["cycle"] == "week"
    got = [(s["start_s"], s["dose_ng_day"]) for s in therapy["steps"]]
    assert got == [(start_s, (400 + 10 * k) * 1000) for k, start_s in enumerate(starts_s)]
