"""pumpctl's host side of the protocol: role choice and signing agree with the firmware, key files,
counter sync and retry, frame limits, dates, the round-trip measurement, and CLI input errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pumpctl import devview, rtt, sign
from pumpctl import keys as keyfile
from pumpctl.link import LinkError, PumpLink

from firmware import roles, serve
from firmware.hmac_sha256 import Hmac
from firmware.serve import split_frame

ROOT = Path(__file__).resolve().parents[1]


def test_host_role_map_agrees_with_the_firmware():
    assert sign.ROLES == roles.ROLES and set(sign.PUBLIC) == set(roles.PUBLIC)
    assert sign.BENCH_PREFIXES == roles.BENCH_PREFIXES
    names = list(serve._HANDLERS) + ["sim.run", "sim.fault", "fault.inject", "future.cmd"]
    for cmd in names:
        for args in ({}, {"nl_per_step": 50}, {"low_reservoir_ml": 3}):
            assert sign.is_public(cmd) == roles.is_public(cmd), cmd
            for role in sign.role_preference(cmd, args):
                assert roles.allowed(role, cmd, dict(args, id=1, cmd=cmd)), (role, cmd, args)


def test_dev_keys_and_signatures_agree_with_the_firmware():
    from boards.sim.board import dev_keys
    assert keyfile.dev_keys() == dev_keys()
    key = os.urandom(32)
    line = sign.encode({"id": 1, "cmd": "program", "mode": "stopped"}, "clinician", 7, key)
    body, mac = split_frame(line[:-1])
    assert Hmac(key).hexdigest(body) == mac
    assert json.loads(bytes(body)) == {"id": 1, "cmd": "program", "mode": "stopped", "role": "clinician", "ctr": 7}
    with pytest.raises(sign.FrameError):
        sign.encode({"id": 1, "cmd": "set", "x": "y" * 1000}, "clinician", 1, key)


def test_key_files_are_private_validated_and_never_overwritten(tmp_path):
    path = tmp_path / "k" / "keys.json"
    keys = keyfile.generate()
    keyfile.save(path, keys, device="abc")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert keyfile.load(path) == (keys, "abc", [])
    assert len(set(keys.values())) == 3 and all(len(k) == 32 for k in keys.values())
    with pytest.raises(keyfile.KeyFileError, match="exists"):
        keyfile.save(path, keys)
    os.chmod(path, 0o644)
    assert "readable by others" in keyfile.load(path)[2][0]
    bad = tmp_path / "bad.json"
    for text, needle in (("nope", "not JSON"), ('{"format": 2, "keys": {}}', "not a pumpctl key file"),
                         ('{"format": 1, "keys": {"root": "00"}}', "unknown role"),
                         ('{"format": 1, "keys": {"patient": "%s"}}' % ("AB" * 32), "lowercase hex"),
                         ('{"format": 1, "keys": {"patient": "abc"}}', "lowercase hex"),
                         ('{"format": 1, "keys": {}}', "no keys")):
        bad.write_text(text)
        with pytest.raises(keyfile.KeyFileError, match=needle):
            keyfile.load(bad)
    with pytest.raises(keyfile.KeyFileError, match="unknown role"):
        keyfile.generate(("clinician", "admin"))


class _InProcess:
    """A byte pipe to an in-process Simulation, so that two links can share one pump."""

    def __init__(self, sim):
        self.sim = sim
        self.buf = b""

    def write(self, data):
        self.sim.serial.push(data)
        if self.sim.clock.horizon_ms is None or self.sim.clock.horizon_ms < self.sim.clock.elapsed_ms:
            self.sim.clock.horizon_ms = self.sim.clock.elapsed_ms
        self.sim.run_to_horizon()
        self.buf += self.sim.serial.take_output()

    def flush(self):
        pass

    def readline(self):
        line, sep, self.buf = self.buf.partition(b"\n")
        return line + sep


def test_links_take_the_counter_from_the_pump_and_resync_after_another_host():
    from helpers import make_sim
    sim = make_sim()
    pipe = _InProcess(sim)
    first = PumpLink(pipe, pipe, keys=keyfile.dev_keys())
    second = PumpLink(pipe, pipe, keys=keyfile.dev_keys())
    first.call("set", low_reservoir_ml=3)
    for _ in range(3):
        second.call("set", low_reservoir_ml=4)
    assert first.call("set", low_reservoir_ml=5)["ok"]         # E_AUTH_REPLAY once, then resynced
    assert sim.pump.protocol.auth.last_ctr("clinician") == 5
    assert first.role_for("demand", {}) == "patient" and first.role_for("sim.run", {}) == "bench"
    assert first.role_for("status", {}) is None
    only_patient = PumpLink(pipe, pipe, keys={"patient": keyfile.dev_keys()["patient"]})
    assert only_patient.role_for("program", {}) is None and only_patient.role_for("ack", {}) == "patient"
    with pytest.raises(LinkError, match="frame holds at most"):
        first.request("set", junk="x" * 2000)


class _SlowPort(_InProcess):
    """A serial port to an in-process pump that answers the opening's newline only after the link's
    drain (as a board does that loads the code serving a line first): its answer comes with the next."""

    timeout = 1.0

    def reset_input_buffer(self):
        self.buf = b""

    def close(self):
        pass

    def write(self, data):
        if data == b"\n" and not self.buf:
            self.sim.serial.push(data)      # taken, answered later
            return
        _InProcess.write(self, data)


def test_a_late_answer_to_the_partial_line_ended_at_opening_is_not_the_first_requests(monkeypatch):
    """Someone left half a line on the port (a terminal's Ctrl-A); the link ends it with a newline when it
    opens, and the pump's E_JSON for it (no id) arrives after the drain, before the answer to the first
    request: it is skipped, not taken as that request's answer. Later, an unreadable line's answer is
    ours again."""
    import serial
    from helpers import make_sim
    sim = make_sim()
    sim.serial.push(b"\r\x01")                     # what mpremote's enter_raw_repl leaves
    port = _SlowPort(sim)
    monkeypatch.setattr(serial, "serial_for_url", lambda *args, **kwargs: port)
    link = PumpLink.serial("socket://127.0.0.1:1", keys=keyfile.dev_keys())
    reply = link.call("status")
    assert reply["ok"] and reply["id"] == 1
    assert [json.loads(line)["error"] for line in link.skipped] == ["E_JSON"]
    link.send_raw(b'{"id": 7, "cmd": \n')
    unread = link._await("status", 2)
    assert unread["error"] == "E_JSON" and unread.get("unread") and unread["id"] == 2
    assert link.call("info")["ok"]


def test_dates_from_the_pump_epoch():
    assert devview.date(0) == "2024-01-01 00:00 UTC"
    assert devview.date(366 * 86400) == "2025-01-01 00:00 UTC"       # 2024 is a leap year
    assert devview.due(100, 200).endswith("(overdue)") and "(in 1m40s)" in devview.due(200, 100)
    assert devview.due(None, 0) == "-"


def test_round_trip_measurement():
    result = rtt.measure_rtt(n=20, interp="micropython")
    assert result["n"] == 20
    for key in ("status_median_ms", "status_p99_ms", "signed_median_ms", "signed_p99_ms"):
        assert 0 < result[key] < 1000, result
    assert result["status_median_ms"] <= result["status_p99_ms"]


def _cli(*args):
    env = dict(os.environ, PUMPCTL_KEYS="/nonexistent/keys.json")
    return subprocess.run([str(Path(sys.executable).parent / "pumpctl")] + list(args), capture_output=True, text=True,
                          timeout=60, cwd=str(ROOT), env=env)


@pytest.mark.parametrize("args, needle", [
    (("status",), "--port PORT or --sim"),
    (("status", "--port", "/dev/null", "--sim"), "--port PORT or --sim"),
    (("program", "flex", "--sim"), "--step"),
    (("program", "continuous", "--sim"), "--dose-mcg-day"),
    (("program", "flex", "--step", "8am", "--sim"), "bad --step"),
    (("set", "--demand-dose-mcg", "25", "--sim"), "needs all four"),
    (("set", "--sim"), "nothing to set"),
    (("keys", "generate", "--out", "/tmp/x.json", "--roles", "admin"), "unknown role"),
    (("status", "--sim", "--keys", "/nonexistent.json"), "no such file"),
])
def test_cli_input_errors_exit_2(args, needle):
    proc = _cli(*args)
    assert proc.returncode == 2 and needle in proc.stderr, (proc.returncode, proc.stderr)


def test_cli_on_a_fresh_simulator():
    proc = _cli("log", "--format", "csv", "--sim")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "seq,t_s,date,type,data"
    proc = _cli("program", "stopped", "--sim", "--yes", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["applied"]
    proc = _cli("bolus", "--dose-mcg", "10", "--duration-s", "60", "--sim", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"] == "E_NO_DRUG"
    proc = _cli("sim", "run", "--until", "3h", "--sim", "--json", "--interp", "cpython")
    assert proc.returncode == 0 and json.loads(proc.stdout)["until_s"] == 10800
