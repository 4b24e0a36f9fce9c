"""The protocol fuzz on CPython: 200,000 mutated frames (tests_host/fw/fuzzkit.py, the same mutator
the firmware test runs on MicroPython with a smaller count) and hypothesis-generated requests, sent
while the pump delivers. 0 crashes (no E_INTERNAL, never the safe state), every line answered once,
no change of settings, therapy, keys or counters, and step times identical to a run without garbage.
"""

import hashlib
import hmac
import json

import fuzzkit
from helpers import make_sim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MUTATED_FRAMES = 200_000
HYPOTHESIS_EXAMPLES = 500   # per hypothesis test; the 200k mutated frames carry the volume
COUNTS = {}


def test_200k_mutated_frames_while_delivering():
    ref = fuzzkit.run(make_sim, MUTATED_FRAMES, 2024, garbage=False)
    fuzz = fuzzkit.run(make_sim, MUTATED_FRAMES, 2024, lockout_after=MUTATED_FRAMES // 2)
    assert fuzz.frames >= MUTATED_FRAMES
    assert fuzz.sim.mock_pump.step_times == ref.sim.mock_pump.step_times
    assert len(ref.sim.mock_pump.step_times) > 10_000
    assert fuzzkit.snapshot(fuzz.sim) == fuzzkit.snapshot(ref.sim)
    others = [e for e in fuzz.events if not e[1].startswith("auth")]
    assert others == [e for e in ref.events if not e[1].startswith("auth")]
    assert fuzz.sim.notices == ref.sim.notices
    for code in ("E_AUTH_MAC", "E_AUTH_REPLAY", "E_AUTH_REQUIRED", "E_AUTH_FORBIDDEN", "E_AUTH_STALE",
                 "E_AUTH_ROLLOVER", "E_AUTH_RATE_LIMIT", "E_JSON", "E_ENCODING", "E_FRAME_TOO_LONG"):
        assert fuzz.codes.get(code, 0) > 0, code
    COUNTS["mutated"] = fuzz.frames   # its speed is for make bench, never for a test


def test_mutated_frames_on_a_board_that_loads_the_serving_code_per_line(monkeypatch):
    """The same on a board's configuration (Config.evict_handlers): the serving code, the gate, the key
    record's code, the handlers and the Control load for each line and leave after it. Fewer frames
    (every line reloads its code; the collections a board makes around the loads are left out: a full
    collection of the test process's heap is slow and changes nothing the pump does): 0 crashes, the
    same steps, state, events and notices as without garbage."""
    from firmware import lazy
    monkeypatch.setattr(lazy, "collect", lambda: None)
    frames = 5_000

    def make():
        return make_sim(evict_handlers=1)
    ref = fuzzkit.run(make, frames, 7, garbage=False)
    fuzz = fuzzkit.run(make, frames, 7, lockout_after=frames // 2)
    assert fuzz.frames >= frames and "E_INTERNAL" not in fuzz.codes
    assert fuzz.sim.mock_pump.step_times == ref.sim.mock_pump.step_times
    assert fuzzkit.snapshot(fuzz.sim) == fuzzkit.snapshot(ref.sim)
    others = [e for e in fuzz.events if not e[1].startswith("auth")]
    assert others == [e for e in ref.events if not e[1].startswith("auth")]
    assert fuzz.sim.notices == ref.sim.notices
    for code in ("E_AUTH_MAC", "E_AUTH_REQUIRED", "E_AUTH_RATE_LIMIT", "E_JSON", "E_ENCODING", "E_FRAME_TOO_LONG"):
        assert fuzz.codes.get(code, 0) > 0, code


# --- hypothesis: requests built from the protocol's own vocabulary ---------------------------------

CMDS = ("program", "refill", "set", "bolus", "prime", "demand", "ack", "selftest", "calibrate", "set_time",
        "keys.provision", "sim.run", "sim.fault", "sim.fill", "status", "log", "info", "keys.state", "x")
ROLES = ("clinician", "patient", "bench", "root", "", None)
# numbers include NaN, +-inf (json.dumps writes NaN/Infinity, which CPython's parser reads back),
# 1e39 (infinite on a single-float board) and integers past 2**30 and 2**64 (issue 13 item 1)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(),
                      st.sampled_from((1e39, -1e39, 1e400, 2.0 ** 31, 2 ** 30, -1, 1.5, 0.0005)),
                      st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                          max_leaves=8)
request = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 1 << 31), st.text(max_size=6), st.none()), "cmd": st.sampled_from(CMDS)},
    optional={"role": st.sampled_from(ROLES), "ctr": st.one_of(st.integers(-5, (1 << 31)), st.floats(), json_value),
              "mode": st.sampled_from(("continuous", "stopped", "flex", "minimum", "x")),
              "dose_mcg_day": json_value, "volume_ml": json_value, "drug": json_value, "until_s": json_value,
              "keys": json_value, "nl_per_step": json_value, "confirm": json_value, "dry_run": json_value,
              "since": json_value, "limit": json_value, "wall_s": json_value, "duration_s": json_value,
              "dose_mcg": json_value, "steps": json_value, "cycle": json_value, "conc_mcg_ml": json_value,
              "demand": json_value, "journal_interval_s": json_value, "volume_ul": json_value})
signing = st.sampled_from(("none", "wrong_key", "used_ctr", "other_role_key", "garbage_mac"))
frame = st.one_of(
    st.tuples(request, signing, st.sampled_from((", ", ",")), st.binary(max_size=4)),
    st.binary(max_size=1200).map(lambda b: (None, b)))


class _Twin:
    """The fuzzed pump and an untouched twin, advanced to the same virtual instants."""

    def __init__(self):
        self.fuzz = fuzzkit.Harness(make_sim(), 99)
        self.ref = fuzzkit.Harness(make_sim(), 99)
        for h in (self.fuzz, self.ref):
            fuzzkit.setup_frames(h.sim)
            h.sim.mock_pump.record_steps(h.sim.clock)
        self.t_ms = self.fuzz.sim.clock.elapsed_ms
        self.keys = {r: k for r, k in __import__("boards.sim.board", fromlist=["dev_keys"]).dev_keys().items()}

    def encode(self, item):
        if item[0] is None:
            return item[1] + b"\n"
        req, how, sep, tail = item
        body = json.dumps(req, separators=(sep, ": ")).encode()
        role = req.get("role") if isinstance(req.get("role"), str) else "clinician"
        if how == "none":
            return body + tail + b"\n"
        if how == "garbage_mac":
            return body + b"~" + hashlib.sha256(body).hexdigest().encode() + b"\n"
        if how == "used_ctr":      # a genuine MAC on a counter the pump has already used
            last = self.fuzz.sim.pump.protocol.auth.last_ctr(role) if role in self.keys else 0
            req = dict(req, role=role, ctr=last)
            body = json.dumps(req).encode()
        key = self.keys.get(role, b"k")
        if how == "wrong_key":
            key = b"wrong" + key
        elif how == "other_role_key":
            key = self.keys["patient" if role != "patient" else "clinician"]
        return body + b"~" + hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"\n"


_twin = []


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(frame, min_size=1, max_size=16), st.integers(0, 4000))
def test_hypothesis_frames_change_nothing(frames, gap_ms):
    if not _twin:
        _twin.append(_Twin())
    twin = _twin[0]
    twin.fuzz.sim.pump.protocol.auth.max_failures = 1 << 30    # keep reaching the deep checks
    twin.t_ms += gap_ms
    twin.fuzz.step(twin.t_ms, [twin.encode(f) for f in frames] + [b"\n"])
    twin.ref.step(twin.t_ms, [])
    assert twin.fuzz.sim.mock_pump.step_times == twin.ref.sim.mock_pump.step_times
    assert fuzzkit.snapshot(twin.fuzz.sim) == fuzzkit.snapshot(twin.ref.sim)
    COUNTS["hypothesis"] = COUNTS.get("hypothesis", 0) + len(frames)


def test_fuzz_counts_reach_100k():
    """Runs after the two above (file order): every hypothesis line answered in the end, and at
    least 100,000 random and mutated frames in all."""
    if _twin:
        twin = _twin[0]
        twin.t_ms += 600_000
        twin.fuzz.step(twin.t_ms, [])
        twin.ref.step(twin.t_ms, [])
        assert twin.fuzz.replies == twin.fuzz.owed
        assert twin.fuzz.sim.mock_pump.step_times == twin.ref.sim.mock_pump.step_times
    total = COUNTS.get("mutated", 0) + COUNTS.get("hypothesis", 0)
    assert total >= 100_000, COUNTS


# --- hypothesis: validly signed requests with hostile values (issue 13 items 1 and 17) ---------------

_VALUE_FIELDS = {
    "program": ("mode", "dose_mcg_day", "cycle", "steps", "confirm", "dry_run"),
    "bolus": ("dose_mcg", "duration_s", "confirm"), "prime": ("volume_ul",), "calibrate": ("steps",),
    "refill": ("drug", "conc_mcg_ml", "volume_ml", "volume_ul", "residual_ml", "bridge"),
    "set": ("reservoir_capacity_ml", "low_reservoir_ml", "minimum_ul_day", "catheter_volume_ul", "nl_per_step",
            "max_rate_ul_h", "residual_tolerance_ml", "demand", "journal_interval_s", "tubing_service_ml"),
    "set_time": ("wall_s",), "log": ("since", "limit"), "sim.fill": ("volume_nl",),
    "sim.pump": ("true_pl_per_step", "noise_ppm", "noise_seed"), "sim.misbehave": ("gain",),
}
hostile_number = st.one_of(st.floats(), st.integers(-(1 << 70), 1 << 70),
                           st.sampled_from((1e39, -1e39, 2.0 ** 31, 2 ** 30, 2 ** 31, -1, 1.5)))
hostile_value = st.one_of(hostile_number, json_value,
                          st.lists(st.one_of(hostile_number, st.dictionaries(
                              st.sampled_from(("start_s", "dose_mcg_day")), hostile_number, max_size=2),
                              st.lists(hostile_number, min_size=2, max_size=2)), max_size=3),
                          st.dictionaries(st.sampled_from(("dose_mcg", "duration_s", "lockout_s", "max_per_day")),
                                          hostile_number, max_size=4))
signed_request = st.sampled_from(sorted(_VALUE_FIELDS)).flatmap(
    lambda cmd: st.tuples(st.just(cmd), st.dictionaries(st.sampled_from(_VALUE_FIELDS[cmd]), hostile_value,
                                                         min_size=1, max_size=3)))
_signed = []


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(signed_request)
def test_hypothesis_signed_hostile_values_never_crash(item):
    """Validly signed, so every value reaches its command: any reply but E_INTERNAL, never the safe
    state (a valid value may be accepted: then the pump changes, as asked)."""
    if not _signed:
        sim = make_sim()
        fuzzkit.setup_frames(sim)
        sim.pump.protocol.auth.max_failures = 1 << 30
        _signed.append(sim)
    sim = _signed[0]
    cmd, args = item
    if cmd in ("sim.run", "sim.power_cycle", "sim.hang"):
        return
    body = json.dumps({"id": 1, "cmd": cmd, **args}, allow_nan=True)
    req = json.loads(body)                       # what the pump will parse (NaN, Infinity and all)
    line = sim.frame(cmd, {k: v for k, v in req.items() if k not in ("id", "cmd")}, "clinician")
    reply = sim.request_raw(line)
    assert reply is not None and reply.get("error") != "E_INTERNAL", (cmd, args, reply)
    assert not sim.pump.safe, (cmd, args, reply)
    COUNTS["signed"] = COUNTS.get("signed", 0) + 1
