"""Key provisioning (first on the bench, then rotation by the clinician), counter rollover and
re-keying, and keys and counters across resets."""

from helpers import filled_sim, make_sim, ok, refused

from firmware.auth import CTR_LEASE, CTR_MAX, ROLLOVER_CTR

K1 = "11" * 32
K2 = "22" * 32
K3 = "33" * 32
K4 = "44" * 32


def raw(hexkey):
    return bytes(int(hexkey[i:i + 2], 16) for i in range(0, 64, 2))


def quiet(sim):
    sim.pump.protocol.auth.max_failures = 1_000_000


def provisioned_sim():
    """A factory-new pump provisioned on the bench with K1 (clinician), K2 (patient), K3 (bench)."""
    sim = make_sim(provision=0)
    ok(sim.request_as(None, "keys.provision", keys={"clinician": K1, "patient": K2, "bench": K3}))
    return sim


def test_factory_new_pump_refuses_signed_commands_until_provisioned():
    sim = make_sim(provision=0)
    state = ok(sim.request("keys.state"))
    assert state["record"] == "missing" and not state["roles"]["clinician"]["key"]
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20), "E_AUTH_ROLE")
    refused(sim.request_as(None, "keys.provision", keys={"patient": K2}), "E_ARG_MISSING")
    refused(sim.request_as(None, "keys.provision", keys={"clinician": "AB" * 32}), "E_ARG_TYPE")
    refused(sim.request_as(None, "keys.provision", keys={"clinician": K1[:-2]}), "E_ARG_TYPE")
    refused(sim.request_as(None, "keys.provision", keys={"clinician": K1, "patient": K1}), "E_ARG_RANGE")
    refused(sim.request_as(None, "keys.provision", keys={"clinician": K1, "admin": K2}), "E_ARG_UNKNOWN")
    refused(sim.request_as(None, "keys.provision", keys=[K1]), "E_ARG_TYPE")
    assert not ok(sim.request("keys.state"))["roles"]["clinician"]["key"]
    reply = ok(sim.request_as(None, "keys.provision", keys={"clinician": K1, "patient": K2, "bench": K3}))
    assert reply["roles"] == ["clinician", "patient", "bench"]
    ok(sim.request_raw(sim.frame("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 20},
                                 "clinician", key=raw(K1))))
    keys_events = [e for e in ok(sim.request("log"))["events"] if e["type"] == "keys"]
    assert keys_events[-1]["data"] == {"by": "bench", "roles": ["clinician", "patient", "bench"],
                                       "rekeyed": ["clinician", "patient", "bench"]}
    assert K1 not in str(keys_events)   # key material is never logged


def test_unsigned_provisioning_is_refused_once_keys_exist_or_without_the_bench():
    sim = provisioned_sim()
    refused(sim.request_as(None, "keys.provision", keys={"clinician": K4}), "E_AUTH_REQUIRED")
    refused(sim.request_raw(sim.frame("keys.provision", {"keys": {"clinician": K4}}, "patient", key=raw(K2))),
            "E_AUTH_FORBIDDEN")
    refused(sim.request_raw(sim.frame("keys.provision", {"keys": {"clinician": K4}}, "bench", key=raw(K3))),
            "E_AUTH_FORBIDDEN")
    board = make_sim(provision=0)
    board.hw.bench = None
    refused(board.request_as(None, "keys.provision", keys={"clinician": K1}), "E_BENCH_DISABLED")


def test_a_board_refuses_the_simulator_development_keys():
    from boards.sim.board import dev_keys
    sim = make_sim(provision=0)
    sim.hw.board = "pico"
    dev = "".join("%02x" % b for b in dev_keys()["clinician"])
    refused(sim.request_as(None, "keys.provision", keys={"clinician": dev}), "E_ARG_RANGE")


def test_clinician_rotates_keys_and_old_keys_stop_working():
    sim = provisioned_sim()
    quiet(sim)
    old_patient = sim.frame("ack", {}, "patient", key=raw(K2))
    rotate = sim.frame("keys.provision", {"keys": {"patient": K4, "bench": None}}, "clinician", key=raw(K1))
    reply = ok(sim.request_raw(rotate))
    assert reply["roles"] == ["clinician", "patient"] and reply["rekeyed"] == ["patient", "bench"]
    refused(sim.request_raw(rotate), "E_AUTH_REPLAY")
    refused(sim.request_raw(old_patient), "E_AUTH_MAC")
    ok(sim.request_raw(sim.frame("ack", {}, "patient", key=raw(K4))))
    refused(sim.request_raw(sim.frame("sim.pump", {}, "bench", key=raw(K3))), "E_AUTH_ROLE")
    same = sim.frame("keys.provision", {"keys": {"patient": K4}}, "clinician", key=raw(K1))
    refused(sim.request_raw(same), "E_ARG_RANGE")
    remove_clinician = sim.frame("keys.provision", {"keys": {"clinician": None}}, "clinician", key=raw(K1))
    refused(sim.request_raw(remove_clinician), "E_ARG_MISSING")


def test_keys_and_counters_survive_a_reset():
    sim = provisioned_sim()
    frame = sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K1))
    ok(sim.request_raw(frame))
    before = ok(sim.request("keys.state"))["roles"]
    assert before["clinician"]["ctr"] == 1
    sim.power_cycle(0)
    state = ok(sim.request("keys.state"))
    # after a reset a role starts from its lease on flash: the first frame reserved 1..CTR_LEASE
    before["clinician"]["ctr"] = CTR_LEASE
    assert state["roles"] == before and state["record"] == "ok"
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    ok(sim.request_raw(sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K1))))


def test_damaged_key_record_fails_closed_until_reprovisioned():
    sim = provisioned_sim()
    for name in ("auth", "auth.new"):
        if name in sim.flash.files:
            sim.flash.files[name] = b"PR garbage"
    sim.power_cycle(0)
    assert ok(sim.request("keys.state"))["record"] == "corrupt"
    reply = refused(sim.request_raw(sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K1))),
                    "E_AUTH_ROLE")
    assert "damaged" in reply["msg"]
    ok(sim.request_as(None, "keys.provision", keys={"clinician": K4}))
    ok(sim.request_raw(sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K4))))


def test_counter_rollover_needs_a_re_key():
    sim = filled_sim(500, 2000, 20)
    quiet(sim)
    auth = sim.pump.protocol.auth
    auth._save(auth.keys, [ROLLOVER_CTR - 2, ROLLOVER_CTR - 1, 5])    # as if after ~2**30 commands
    ok(sim.request("program", mode="continuous", dose_mcg_day=450))      # ROLLOVER_CTR - 1: the last one
    refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_AUTH_ROLLOVER")
    refused(sim.request_as("patient", "ack"), "E_AUTH_ROLLOVER")
    refused(sim.request_raw(sim.frame("ack", {}, "clinician", ctr=CTR_MAX + 1)), "E_AUTH_ROLLOVER")
    assert ok(sim.request("status"))["therapy"]["dose_ng_day"] == 450_000
    # the reserved counters re-key: the clinician renews its own key and the patient's
    new = {"clinician": K1, "patient": K2}
    reply = ok(sim.request_raw(sim.frame("keys.provision", {"keys": new}, "clinician", ctr=CTR_MAX)))
    assert reply["ctr"] == {"clinician": 0, "patient": 0, "bench": 5}
    ok(sim.request_raw(sim.frame("program", {"mode": "continuous", "dose_mcg_day": 400}, "clinician",
                                 ctr=1, key=raw(K1))))
    ok(sim.request_raw(sim.frame("ack", {}, "patient", ctr=1, key=raw(K2))))
    assert ok(sim.request("status"))["therapy"]["dose_ng_day"] == 400_000
    sim.power_cycle(0)
    state = ok(sim.request("keys.state"))["roles"]
    assert (state["clinician"]["ctr"], state["patient"]["ctr"], state["bench"]["ctr"]) == (CTR_LEASE, CTR_LEASE, 5)


def test_re_key_outside_the_rollover_zone_keeps_the_counter():
    sim = provisioned_sim()
    for _ in range(3):
        ok(sim.request_raw(sim.frame("ack", {}, "patient", key=raw(K2))))
    ok(sim.request_raw(sim.frame("keys.provision", {"keys": {"patient": K4}}, "clinician", key=raw(K1))))
    assert ok(sim.request("keys.state"))["roles"]["patient"]["ctr"] == 3
    refused(sim.request_raw(sim.frame("ack", {}, "patient", ctr=2, key=raw(K4))), "E_AUTH_REPLAY")


# --- re-provisioning after a damaged record (issue 13 item 11) ----------------------------------------

def _damage_key_record(sim):
    for name in ("auth", "auth.new"):
        if name in sim.flash.files:
            sim.flash.files[name] = b"PR garbage"


def test_reprovisioning_after_a_damaged_record_keeps_counters_above_every_used_one():
    sim = provisioned_sim()
    recorded = []
    for i in range(70):          # past a counter lease, so that RAM and flash differ in between
        frame = sim.frame("set", {"low_reservoir_ml": 2 + i % 2}, "clinician", key=raw(K1))
        ok(sim.request_raw(frame))
        recorded.append(frame)
    patient = sim.frame("ack", {}, "patient", key=raw(K2))
    ok(sim.request_raw(patient))
    used = ok(sim.request("keys.state"))["roles"]
    _damage_key_record(sim)
    sim.power_cycle(0)
    assert ok(sim.request("keys.state"))["record"] == "corrupt"
    # the same keys again (the bench has only the key file): no frame recorded before may run again
    reply = ok(sim.request_as(None, "keys.provision", keys={"clinician": K1, "patient": K2, "bench": K3}))
    assert reply["ctr"]["clinician"] >= used["clinician"]["ctr"] and reply["ctr"]["patient"] >= used["patient"]["ctr"]
    quiet(sim)
    for frame in recorded + [patient]:
        refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    ok(sim.request_raw(sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K1))))
    assert ok(sim.request("status"))["low_reservoir_nl"] == 3_000_000


def test_a_damaged_record_and_a_reset_before_reprovisioning_still_refuse_replays():
    sim = provisioned_sim()
    frame = sim.frame("set", {"low_reservoir_ml": 3}, "clinician", key=raw(K1))
    ok(sim.request_raw(frame))
    _damage_key_record(sim)
    sim.power_cycle(0)
    sim.power_cycle(0)
    ok(sim.request_as(None, "keys.provision", keys={"clinician": K1}))
    sim.power_cycle(0)
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")


# --- public and weak keys on a board (issue 13 item 12) ------------------------------------------------

def _hex(key):
    return "".join("%02x" % b for b in key)


def test_a_board_refuses_public_and_weak_keys_for_every_role():
    from boards.sim.board import dev_keys
    good = ("8f3a1c9e5b7d2f4061a8c3e5f7092b4d6e8f0a1c3e5b7d9f2143658708a9cbed",
            "5e0d2b9a7c4f6e8d1a3b5c7e9f0a2b4c6d8e1f3a5b7c9d0e2f4a6b8c1d3e5f70",
            "c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6")
    weak = [_hex(k) for k in dev_keys().values()] + [
        "00" * 32, "ff" * 32, "11" * 32, "0102" * 16, _hex(bytes(range(32))), _hex(bytes(range(255, 223, -1))),
        _hex(b"correct horse battery staple 123"), _hex(b"0123456789abcdef0123456789abcdef"),
        "ab" * 32, "deadbeef" * 8]
    for role in ("clinician", "patient", "bench"):
        for key in weak:
            sim = make_sim(provision=0)
            sim.hw.board = "pico"
            keys = {"clinician": good[0], "patient": good[1], "bench": good[2]}
            keys[role] = key
            refused(sim.request_as(None, "keys.provision", keys=keys), "E_ARG_RANGE")
            assert not ok(sim.request("keys.state"))["roles"]["clinician"]["key"]
    sim = make_sim(provision=0)
    sim.hw.board = "pico"
    ok(sim.request_as(None, "keys.provision", keys={"clinician": good[0], "patient": good[1], "bench": good[2]}))
    # rotation on a board: the same rule
    frame = sim.frame("keys.provision", {"keys": {"patient": "00" * 32}}, "clinician", key=raw(good[0]))
    refused(sim.request_raw(frame), "E_ARG_RANGE")
    from firmware.cmd_keys import weak_key
    for key in weak:
        assert weak_key(raw(key)), key
    for key in good:
        assert not weak_key(raw(key)), key
