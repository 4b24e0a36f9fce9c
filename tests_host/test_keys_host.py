"""Host side of issue 13 item 12: pumpctl refuses to put a public or weak key on a board, by the same
rule as the firmware (firmware/cmd_keys.py weak_key), and never generates one."""

import os
import types

import pytest
from pumpctl import cli_keys
from pumpctl import keys as keyfile

from firmware.cmd_keys import weak_key

WEAK = [bytes(32), b"\xff" * 32, b"\x11" * 32, b"\x01\x02" * 16, bytes(range(32)), bytes(range(255, 223, -1)),
        bytes(range(7, 7 + 5 * 32, 5)), b"correct horse battery staple 123", b"0123456789abcdef0123456789abcdef",
        b"\xab" * 32, bytes.fromhex("deadbeef" * 8)] + list(keyfile.dev_keys().values())


def test_host_and_firmware_agree_on_weak_keys():
    for key in WEAK:
        assert weak_key(key) and keyfile.weak_reason(key), key.hex()
    randoms = [os.urandom(32) for _ in range(2000)]
    for key in randoms + WEAK:
        assert bool(weak_key(key)) == (keyfile.weak_reason(key) is not None), key.hex()
    assert sum(1 for k in randoms if weak_key(k)) == 0


def test_generate_never_makes_a_weak_or_shared_key():
    for _ in range(50):
        keys = keyfile.generate()
        assert len(set(keys.values())) == 3
        assert all(keyfile.weak_reason(k) is None for k in keys.values())


class _FakeLink:
    def __init__(self, board):
        self.board = board
        self.sent = []

    def request_as(self, role, cmd, **args):
        self.sent.append((role, cmd, args))
        return {"ok": True, "roles": ["clinician", "patient", "bench"], "rekeyed": ["clinician", "patient", "bench"]}

    def close(self):
        pass


@pytest.mark.parametrize("role", ["clinician", "patient", "bench"])
def test_provision_refuses_a_weak_key_for_a_board_before_sending(tmp_path, monkeypatch, capsys, role):
    keys = keyfile.generate()
    keys[role] = keyfile.dev_keys()["patient" if role != "patient" else "bench"]     # another role's dev key
    path = keyfile.save(tmp_path / "k.json", keys)
    link = _FakeLink("pico")
    monkeypatch.setattr(cli_keys, "open_link", lambda args, keys=None: link)

    def call(lnk, cmd, **args):
        if cmd == "keys.state":
            return {"roles": {"clinician": {"key": False}}, "bench": True}
        return {"serial": "E661", "board": lnk.board}
    monkeypatch.setattr(cli_keys, "call", call)
    args = types.SimpleNamespace(keys=str(path), keys_path=str(path), current_keys=None, sim=False, json=False)
    assert cli_keys.cmd_provision(args) == 2
    assert link.sent == []
    assert "refusing to put the %s key on a board" % role in capsys.readouterr().err
    # the same file on the simulator: its development keys are its own business
    sim_link = _FakeLink("sim")
    monkeypatch.setattr(cli_keys, "open_link", lambda args, keys=None: sim_link)
    args = types.SimpleNamespace(keys=str(path), keys_path=str(path), current_keys=None, sim=True, json=False)
    assert cli_keys.cmd_provision(args) == 0
    assert [c[1] for c in sim_link.sent] == ["keys.provision"]
