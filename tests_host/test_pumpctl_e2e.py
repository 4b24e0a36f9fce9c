"""End to end: pumpctl drives the simulator running on the MicroPython unix port through a real
pseudo-terminal and through a local socket, exactly as it drives a board (pyserial on a port path or
URL, signed frames, the same bytes)."""

import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl.cli_sim import start_server
from pumpctl.devview import date
from pumpctl.link import LinkError, PumpLink

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path):
    env = dict(os.environ)
    env["PUMPCTL_KEYS"] = str(tmp_path / "no-default-keys.json")   # never the user's own key file
    return env


def pumpctl(tmp_path, *args, ok=True):
    proc = subprocess.run([str(Path(sys.executable).parent / "pumpctl")] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=120, cwd=str(ROOT), env=_env(tmp_path))
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def as_json(proc):
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.fixture
def pty_sim():
    proc, where, closer = start_server("micropython", pty=True)
    assert where.startswith("/dev/pts/")
    yield where
    proc.terminate()
    proc.wait(timeout=10)
    closer()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def socket_sim():
    procs = []

    def start(provision=True):
        proc, where, closer = start_server("micropython", listen=_free_port(), provision=provision)
        procs.append(proc)
        return where
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_clinician_session_over_a_pseudo_terminal(pty_sim, tmp_path):
    port = ("--port", pty_sim, "--dev-keys")
    info = as_json(pumpctl(tmp_path, "info", *port, "--json"))
    assert info["board"] == "sim" and info["serial"] == "SIM-0001" and info["auth"]["bench"]
    assert "SIM-0001" in pumpctl(tmp_path, "info", *port).stdout
    pumpctl(tmp_path, "refill", "--drug", "baclofen", "--conc-mcg-ml", 2000, "--volume-ml", 20, *port)
    pumpctl(tmp_path, "sim", "fill", "--volume-ml", 20, *port)
    # programming: present vs new, and nothing applied without confirmation
    shown = pumpctl(tmp_path, "program", "continuous", "--dose-mcg-day", 500, *port, ok=False)
    assert shown.returncode == 1 and "not applied" in shown.stderr
    assert "stopped" in shown.stdout and "500 mcg/day" in shown.stdout
    assert as_json(pumpctl(tmp_path, "status", *port, "--json"))["therapy"] == {"mode": "stopped"}
    applied = as_json(pumpctl(tmp_path, "program", "continuous", "--dose-mcg-day", 500, *port, "--yes", "--json"))
    assert applied["applied"] and applied["new"] == {"mode": "continuous", "dose_ng_day": 500_000}
    pumpctl(tmp_path, "set", "--demand-dose-mcg", 25, "--demand-duration-s", 600, "--demand-lockout-s", 3600,
            "--demand-max-per-day", 3, *port)
    assert as_json(pumpctl(tmp_path, "demand", *port, "--json"))["kind"] == "demand"
    pumpctl(tmp_path, "sim", "run", "--until", "2d", *port)
    status = as_json(pumpctl(tmp_path, "status", *port, "--json"))
    assert status["t_s"] == 2 * 86400
    assert status["delivered_pl"] == 500_000_000 + 12_500_000   # 2 days at 250 uL/day + 25 mcg at 2 mg/mL
    human = pumpctl(tmp_path, "status", *port).stdout
    assert "2024-01-03 00:00 UTC" in human, human                      # now, as a date
    assert date(status["refill_due_s"]) in human and status["refill_due_s"] > 60 * 86400, human
    pumpctl(tmp_path, "ack", *port)
    pumpctl(tmp_path, "selftest", *port)
    rows = list(csv.DictReader(io.StringIO(pumpctl(tmp_path, "log", "--format", "csv", *port).stdout)))
    kinds = [r["type"] for r in rows]
    assert {"refill", "program", "set", "bolus_start", "bolus_end", "selftest"} <= set(kinds)
    assert rows[0]["date"] == "2024-01-01 00:00 UTC"
    exported = as_json(pumpctl(tmp_path, "log", "--format", "json", *port))
    assert [e["type"] for e in exported["events"]] == kinds
    state = as_json(pumpctl(tmp_path, "keys", "state", *port, "--json"))
    assert state["roles"]["patient"]["ctr"] == 2       # demand and ack went out as the patient
    assert state["roles"]["clinician"]["ctr"] >= 4 and state["roles"]["bench"]["ctr"] >= 2


def test_without_keys_or_with_the_wrong_role_nothing_changes(pty_sim, tmp_path):
    bare = ("--port", pty_sim)
    refused = pumpctl(tmp_path, "program", "stopped", *bare, "--yes", "--json", ok=False)
    assert refused.returncode == 2 and refused.stdout == ""         # no key: nothing is sent
    assert "no clinician key found: use --keys FILE or --dev-keys" in refused.stderr
    pumpctl(tmp_path, "keys", "dev", "--out", tmp_path / "dev.json")
    pumpctl(tmp_path, "keys", "extract", "--keys", tmp_path / "dev.json", "--role", "patient",
            "--out", tmp_path / "patient.json")
    patient = ("--port", pty_sim, "--keys", tmp_path / "patient.json")
    no_key = pumpctl(tmp_path, "program", "stopped", *patient, "--yes", "--json", ok=False)
    assert no_key.returncode == 2 and "no clinician key found (the keys at hand: patient)" in no_key.stderr
    forced = pumpctl(tmp_path, "program", "stopped", *patient, "--role", "patient", "--yes", "--json", ok=False)
    assert as_json(forced)["error"] == "E_AUTH_FORBIDDEN"
    assert as_json(pumpctl(tmp_path, "ack", *patient, "--json"))["ok"]
    log = as_json(pumpctl(tmp_path, "log", "--format", "json", *bare))["events"]
    assert [e["data"]["error"] for e in log if e["type"] == "auth_fail"] == ["E_AUTH_FORBIDDEN"]


def test_a_recorded_frame_cannot_be_replayed_over_the_link(pty_sim, tmp_path):
    link = PumpLink.serial(pty_sim, keys=None, timeout_s=10)
    from pumpctl import keys as keyfile
    from pumpctl import sign
    dev = keyfile.dev_keys()
    try:
        state = link.call("keys.state")
        frame = sign.encode({"id": 90, "cmd": "set", "low_reservoir_ml": 3}, "clinician",
                            state["roles"]["clinician"]["ctr"] + 1, dev["clinician"])
        link.send_raw(frame)
        assert json.loads(link._reader.readline())["ok"] is True
        link.send_raw(frame)
        reply = json.loads(link._reader.readline())
        assert reply["error"] == "E_AUTH_REPLAY"
    finally:
        link.close()


def test_provisioning_and_rotation_over_a_socket(socket_sim, tmp_path):
    url = socket_sim(provision=False)        # a factory-new pump with its bench jumper closed
    keys = tmp_path / "pump.json"
    pumpctl(tmp_path, "keys", "generate", "--out", keys)
    assert (keys.stat().st_mode & 0o777) == 0o600
    assert pumpctl(tmp_path, "keys", "generate", "--out", keys, ok=False).returncode == 2   # never overwritten
    before = as_json(pumpctl(tmp_path, "keys", "state", "--port", url, "--json"))
    assert not before["roles"]["clinician"]["key"]
    pumpctl(tmp_path, "keys", "provision", "--keys", keys, "--port", url)
    assert json.loads(keys.read_text())["device"] == "SIM-0001"
    session = ("--port", url, "--keys", keys)
    pumpctl(tmp_path, "refill", "--drug", "baclofen", "--conc-mcg-ml", 500, "--volume-ml", 10, *session)
    wrong = pumpctl(tmp_path, "set", "--low-reservoir-ml", 3, "--port", url, "--dev-keys", "--json", ok=False)
    assert as_json(wrong)["error"] == "E_AUTH_MAC"
    # rotation: the old file stops working, the new one works
    new = tmp_path / "new.json"
    pumpctl(tmp_path, "keys", "generate", "--out", new)
    assert pumpctl(tmp_path, "keys", "provision", "--keys", new, "--port", url, ok=False).returncode == 2
    pumpctl(tmp_path, "keys", "provision", "--keys", new, "--current-keys", keys, "--port", url)
    assert as_json(pumpctl(tmp_path, "set", "--low-reservoir-ml", 3, *session, "--json", ok=False))["error"] == \
        "E_AUTH_MAC"
    assert as_json(pumpctl(tmp_path, "set", "--low-reservoir-ml", 3, "--port", url, "--keys", new, "--json"))["ok"]


def test_the_link_reports_a_pump_that_does_not_answer(tmp_path):
    master, slave = os.openpty()
    try:
        with pytest.raises(LinkError, match="no reply"):
            PumpLink.serial(os.ttyname(slave), keys=None, timeout_s=0.3).request("status")
    finally:
        os.close(master)
        os.close(slave)
