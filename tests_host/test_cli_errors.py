"""pumpctl as a bench tester meets it (issue 14): no traceback and no hang for any input, every user error
one line naming the option (and its unit) or the scenario place, exit codes 2 invalid input / 1 failure /
130 interrupted, output paths and numbers checked before a long run starts. All through the console
script."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import PUMPCTL, ROOT, as_json, clean_env, free_port, one_line_error, pumpctl
from pumpctl import __version__
from pumpctl.link import LinkError, PipeReader, PumpLink


def write(tmp_path, data, name="s.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


FILL = {"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, "conc_mcg_ml": 2000}
FLEX = {"at": 0, "do": "program", "mode": "flex", "cycle": "day",
        "steps": [{"start": 0, "dose_mcg_day": 400}, {"start": "8h", "dose_mcg_day": 600}]}


# --- crashes ---------------------------------------------------------------------------------------

def test_a_flex_programme_has_a_human_summary(tmp_path):
    proc = pumpctl("run", write(tmp_path, {"name": "flex", "actions": [FILL, FLEX], "until": "1d"}), "--quiet")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "flex (day): 400 mcg from 00:00, 600 mcg from 08:00 per day" in out
    # one day: 8 h at 400 and 16 h at 600 mcg/day = 533.333 mcg, at 2000 mcg/mL = 0.267 mL
    assert "0.267 mL" in out and "533.3" in out


def test_offline_calibration_prints_its_result(tmp_path):
    proc = pumpctl("calibrate", "--mass-g", "0.0968", "0.0970", "0.0969", "--density-g-ml", "1")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "calibration: 48.4500 nL/step" in proc.stdout          # 0.0969 g / 1 g/mL / 2000 steps
    csv = write(tmp_path, "run,steps,mass_g\n1,2000,0.0968\n2,2000,0.0970\n", "w.csv")
    proc = pumpctl("calibrate", "--weighings", csv, "--density-g-ml", "1")
    assert proc.returncode == 0 and proc.stderr == "" and "calibration: 48.4500 nL/step" in proc.stdout


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_scenario_with_nan_or_infinity_is_refused_before_the_run(tmp_path, token):
    text = '{"name": "x",\n "actions": [{"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 20, ' \
           '"conc_mcg_ml": 2000},\n  {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": %s}],\n' \
           ' "until": "1d"}' % token
    started = time.monotonic()
    line = one_line_error(pumpctl("run", write(tmp_path, text), timeout=60), 2)
    assert "s.json:3:" in line and token in line and time.monotonic() - started < 30


def test_nan_on_the_command_line_is_refused_at_once():
    line = one_line_error(pumpctl("program", "continuous", "--dose-mcg-day", "nan", "--sim", "--yes", timeout=30), 2)
    assert "--dose-mcg-day" in line and "mcg/day" in line and "'nan'" in line


def test_a_request_the_pump_cannot_read_fails_instead_of_hanging():
    """The pump answers a line it cannot parse with {"id": null, "error": "E_JSON"}: that answers the
    pending request (before: the link skipped it and waited forever on a pipe without a timeout)."""
    for interp, line in (("micropython", b'{"id": 5, "cmd": "status", "dose": NaN}\n'),
                         ("cpython", b'{"id": 5, "cmd": "status"\n')):
        link = PumpLink.simulator(interp, timeout_s=20)
        try:
            link.send_raw(line)
            started = time.monotonic()
            reply = link._await("status", 5)
            assert reply["error"] == "E_JSON" and reply["ok"] is False and reply.get("unread"), (interp, reply)
            assert time.monotonic() - started < 10
            assert link.call("status")["ok"]                       # the link goes on
        finally:
            link.close()


def _fake_pump(code):
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    link = PumpLink(PipeReader(proc.stdout, 0.5), proc.stdin, lambda: (proc.wait(), (proc.returncode, ""))[1])
    link.proc, link.pipe_timeout_s = proc, 0.5
    return link, proc


def test_a_silent_or_dead_simulator_ends_the_request_with_a_clear_message():
    link, proc = _fake_pump("import sys, time\nsys.stdin.readline()\ntime.sleep(120)")
    started = time.monotonic()
    with pytest.raises(LinkError, match=r"no reply to 'status' within 0.5 s: the simulator is silent"):
        link.request("status")
    assert time.monotonic() - started < 10 and proc.wait(timeout=10) is not None      # killed, not left behind
    link, proc = _fake_pump("import sys\nsys.stdin.readline()")
    with pytest.raises(LinkError, match="closed the link while 'status' was pending"):
        link.request("status")


# --- every user error: one line, the option and its unit, the right exit code -------------------------

BAD = [
    (("sim", "run", "--until", "1y", "--sim"), 2, ["--until", "'1y'"]),
    (("log", "--out", "/missing/dir/x.csv", "--sim"), 2, ["--out", "/missing/dir does not exist"]),
    (("accuracy", "--png", "/missing/x.png"), 2, ["--png", "/missing"]),
    (("report", "scenarios/continuous_30d.json", "--out", "/etc/passwd"), 2, ["--out", "is a file"]),
    (("calibrate", "--sim", "--true-nl-per-step", "nan"), 2, ["--true-nl-per-step", "nL", "'nan'"]),
    (("accuracy", "--sim", "--rate-ul-h", "0"), 2, ["--rate-ul-h", "above 0", "uL/h"]),
    (("accuracy", "--sim", "--rate-ul-h", "-5"), 2, ["--rate-ul-h", "uL/h", "'-5'"]),
    (("calibrate", "--sim", "--write", "--port", "/dev/ttyACM0"), 2, ["--sim", "--port", "not both"]),
    (("run", "scenarios/continuous_30d.json", "--start-ticks", "-5"), 2, ["--start-ticks", "1073741823"]),
    (("run", "scenarios/continuous_30d.json", "--start-ticks", "99999999999"), 2, ["--start-ticks"]),
    (("sim", "fill", "--volume-ml", "-2", "--sim"), 2, ["--volume-ml", "mL", "'-2'"]),
    (("bolus", "--dose-mcg", "5", "--duration", "1x", "--sim"), 2, ["--duration", "1h30m"]),
    (("bolus", "--dose-mcg", "inf", "--duration", "1h", "--sim"), 2, ["--dose-mcg", "mcg"]),
    (("set", "--catheter-volume-ul", "-1", "--sim"), 2, ["--catheter-volume-ul", "uL"]),
    (("run", "/missing/scenario.json"), 2, ["no such file"]),
    (("calibrate", "--write", "--mass-g", "0.1"), 2, ["--write", "--sim or --port"]),
    (("accuracy", "--csv", "scenarios/continuous_30d.json", "--rate-ul-h", "20", "--sim"), 2, ["--csv", "--sim"]),
    (("status",), 2, ["--port PORT or --sim"]),
    (("frobnicate",), 2, ["invalid choice"]),
    (("status", "--port", "/dev/ttyNOPE"), 1, ["/dev/ttyNOPE", "pumpctl ports"]),
]


@pytest.mark.parametrize("args, code, needles", BAD, ids=[" ".join(a[:3]) for a, _, _ in BAD])
def test_user_errors_are_one_line_naming_what_to_fix(args, code, needles):
    started = time.monotonic()
    line = one_line_error(pumpctl(*args, timeout=60), code)
    for needle in needles:
        assert needle in line, line
    assert time.monotonic() - started < 30          # refused before any run starts


def test_nothing_listening_on_a_socket_says_how_to_start_a_simulator():
    line = one_line_error(pumpctl("status", "--port", "socket://127.0.0.1:%d" % free_port()), 1)
    assert "nothing listens" in line and "pumpctl sim serve" in line


def test_ports_are_listed(tmp_path):
    proc = pumpctl("ports")
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout.strip()
    listed = as_json(pumpctl("ports", "--json"))["ports"]
    assert all(set(p) >= {"device", "serial_number", "vid_pid"} for p in listed)
    assert len(listed) == 0 or all(p["device"] in proc.stdout for p in listed)


# --- silent acceptance --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, needle", [
    ({"actions": [{"do": "program", "mode": "stopped"}], "until": "1d"}, "missing 'at'"),
    ({"actions": [], "until": 0}, "until"),
    ({"actions": [{"at": "1d", "do": "power_cycle", "off": "2d"}], "until": "2d"}, "still be off"),
    ({"actions": [FILL, dict(FLEX, steps=[{"start": 0, "dose_mcg_day": float("nan")}])], "until": "1d"}, "NaN"),
    ({"actions": [FILL], "samples": ["3d"], "until": "1d"}, "samples[0]"),
    ({"actions": [FILL, {"at": 0, "do": "calibrate", "runs": 0}], "until": "1d"}, "actions[1]"),
])
def test_scenario_mistakes_stop_the_run_before_it_starts(tmp_path, bad, needle):
    line = one_line_error(pumpctl("run", write(tmp_path, bad), "--quiet", timeout=60), 2)
    assert needle in line, line


def test_a_dose_in_mg_typed_as_mcg_is_warned_about(tmp_path):
    scenario = {"actions": [FILL, {"at": 0, "do": "program", "mode": "continuous", "dose_mcg_day": 0.5}],
                "until": "1h"}
    proc = pumpctl("run", write(tmp_path, scenario), "--quiet", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "warning: actions[1] (program) dose_mcg_day: 0.5 mcg/day" in proc.stderr and "mg meant?" in proc.stderr
    ok = pumpctl("run", write(tmp_path, dict(scenario, actions=[FILL, dict(scenario["actions"][1], dose_mcg_day=500)])),
                 "--quiet", "--json")
    assert ok.returncode == 0 and ok.stderr == ""


def test_strict_makes_a_refused_action_fail_the_run(tmp_path):
    path = write(tmp_path, {"actions": [FILL, {"at": 0, "do": "refill", "drug": "baclofen", "volume_ml": 50,
                                               "conc_mcg_ml": 2000}], "until": "1h"})
    lenient = pumpctl("run", path, "--quiet", "--json")
    assert lenient.returncode == 0 and as_json(lenient)["refused"][0]["error"] == "E_CAPACITY"
    strict = pumpctl("run", path, "--quiet", "--json", "--strict")
    line = one_line_error(strict, 1)
    assert "--strict" in line and "actions[1] refill" in line and "E_CAPACITY" in line
    assert as_json(strict)["refused"][0]["index"] == 1                  # the report is printed all the same
    assert pumpctl("run", "scenarios/continuous_30d.json", "--quiet", "--strict").returncode == 0


# --- Ctrl-C ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [("run", "scenarios/longrun_7y_baclofen.json"),
                                  ("report", "scenarios/longrun_7y_baclofen.json", "--out", "{tmp}")])
@pytest.mark.parametrize("whole_group", [True, False], ids=["terminal", "pumpctl-only"])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, args, whole_group):
    """Ctrl-C at a terminal signals the whole foreground group (pumpctl and its simulator); `kill -INT`
    only pumpctl. Either way: one line, exit 130, no simulator left behind."""
    argv = [PUMPCTL] + [a.replace("{tmp}", str(tmp_path / "r")) for a in args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT), env=clean_env(),
                            start_new_session=True)
    try:
        assert b"simulated" in proc.stderr.readline()          # the run is under way
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [ln for ln in err.decode().splitlines() if ln.strip() and "simulated" not in ln]
    assert proc.returncode == 130 and lines == ["pumpctl: interrupted"], (proc.returncode, err[-2000:])
    leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftover == []


# --- version, help, exit codes ------------------------------------------------------------------------

def test_version():
    proc = pumpctl("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "pumpctl %s" % __version__


def _walk(parser, path=("pumpctl",)):
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))
        else:
            yield path, action


def test_every_option_and_subcommand_has_help_text():
    import argparse

    from pumpctl.cli import build_parser
    missing = ["%s %s" % (" ".join(path), action.option_strings or action.dest)
               for path, action in _walk(build_parser())
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert missing == []
    proc = pumpctl("--help")
    assert proc.returncode == 0 and "exit codes" in proc.stdout and "130 interrupted" in proc.stdout
    assert "ports" in proc.stdout and "sim serve" in proc.stdout


def test_exit_codes_are_documented_alike():
    readme = (ROOT / "README.md").read_text()
    from pumpctl import cli
    for text in (readme, cli.__doc__, cli.EPILOG):
        for code in ("130", "2", "1"):
            assert code in text
    assert "130" in readme.split("## CLI: pumpctl", 1)[1].split("\n## ", 1)[0]


def _subcommand_modules():
    """{module name: its parsed source} of every pumpctl module that defines register(sub)."""
    import ast
    found = {}
    for path in sorted((ROOT / "tools" / "pumpctl").rglob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.FunctionDef) and n.name == "register" for n in tree.body):
            rel = path.relative_to(ROOT / "tools").with_suffix("")
            found[".".join(rel.parts)] = tree
    return found


def test_every_subcommand_module_is_listed_once_and_registers_only_its_own_commands():
    import argparse
    import ast
    import importlib

    from pumpctl import cli
    modules = _subcommand_modules()
    assert sorted(cli.SUBCOMMAND_MODULES) == sorted(modules), "cli.SUBCOMMAND_MODULES must list each once"
    assert len(set(cli.SUBCOMMAND_MODULES)) == len(cli.SUBCOMMAND_MODULES)
    for name, tree in modules.items():
        # no subcommand module imports another (cli_device once registered cli_keys and cli_sim itself)
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {"%s.%s" % (n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     and n.module for a in n.names}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not (imported & (set(modules) - {name})), (name, imported & set(modules))
    # each module alone adds its commands; together they are exactly the CLI's, none twice
    owned = {}
    for name in cli.SUBCOMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        for command in sub.choices:
            assert command not in owned, "%s registered by %s and %s" % (command, owned[command], name)
            owned[command] = name
    top = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(owned) == sorted(top.choices)
    assert owned["keys"] == "pumpctl.cli_keys" and owned["sim"] == "pumpctl.cli_sim"
