"""Authenticated commands: forged MACs, wrong roles, replays before and after a reset, the counter's
limits, the rate limit, and the bench. Every refusal is logged and changes nothing."""

from helpers import filled_sim, log_pages, ok, refused

from boards.sim.board import dev_keys
from firmware import roles
from firmware.auth import LOCKOUT_S, MAX_JUMP
from hal.mock.storage import PowerLoss

WRONG_KEY = b"\x42" * 32


def settings(sim):
    st = ok(sim.request("status"))
    return (st["therapy"], st["rate_nl_day"], st["drug"], st["conc_mcg_ml"], st["step_pl"], st["demand"],
            st["low_reservoir_nl"], st["capacity_nl"], list(sim.pump.protocol.auth.ctr))


def events(sim, kind=None):
    return [e for e in log_pages(sim)["events"] if kind is None or e["type"] == kind]


def auth_fails(sim):
    return [e["data"]["error"] for e in events(sim, "auth_fail")]


def no_lockout(sim):
    sim.pump.protocol.auth.max_failures = 1_000_000


def program_frame(sim, dose=400, **kw):
    return sim.frame("program", {"mode": "continuous", "dose_mcg_day": dose}, kw.pop("role", "clinician"), **kw)


def test_public_reads_need_no_signature():
    sim = filled_sim(500, 2000, 20)
    for cmd in ("info", "status", "log", "keys.state", "sim.state"):
        ok(sim.request_as(None, cmd))
    assert auth_fails(sim) == []


def test_unsigned_change_is_refused_logged_and_changes_nothing():
    sim = filled_sim(500, 2000, 20)
    before = settings(sim)
    refused(sim.request_as(None, "program", mode="continuous", dose_mcg_day=400), "E_AUTH_REQUIRED")
    refused(sim.request_as(None, "refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=10), "E_AUTH_REQUIRED")
    refused(sim.request_as(None, "set", low_reservoir_ml=4), "E_AUTH_REQUIRED")
    refused(sim.request_as(None, "demand"), "E_AUTH_REQUIRED")
    assert settings(sim) == before
    fails = events(sim, "auth_fail")
    assert [e["data"]["error"] for e in fails] == ["E_AUTH_REQUIRED"] * 4
    assert [e["data"]["cmd"] for e in fails] == ["program", "refill", "set", "demand"]


def test_forged_mac_is_refused():
    sim = filled_sim(500, 2000, 20)
    no_lockout(sim)
    before = settings(sim)
    refused(sim.request_raw(program_frame(sim, key=WRONG_KEY)), "E_AUTH_MAC")
    good = program_frame(sim)
    body, mac = good[:-66], good[-65:-1]
    flipped = mac[:10] + (b"0" if mac[10:11] != b"0" else b"1") + mac[11:]
    refused(sim.request_raw(body + b"~" + flipped + b"\n"), "E_AUTH_MAC")
    refused(sim.request_raw(body + b"~" + mac.upper() + b"\n"), "E_AUTH_MAC")          # lowercase hex only
    tampered = body.replace(b'"dose_mcg_day": 400', b'"dose_mcg_day": 900')
    assert tampered != body
    refused(sim.request_raw(tampered + b"~" + mac + b"\n"), "E_AUTH_MAC")                # body changed after signing
    refused(sim.request_raw(body + b" ~" + mac + b"\n"), "E_AUTH_MAC")                   # one byte more
    # the patient's key cannot pass for the clinician
    refused(sim.request_raw(program_frame(sim, key=dev_keys()["patient"])), "E_AUTH_MAC")
    assert settings(sim) == before
    assert auth_fails(sim) == ["E_AUTH_MAC"] * 5      # the 6th is counted, not logged (log budget)


def test_wrong_role_is_refused():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    no_lockout(sim)
    before = settings(sim)
    refused(sim.request_as("patient", "program", mode="continuous", dose_mcg_day=900), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("patient", "set", low_reservoir_ml=1), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("bench", "program", mode="continuous", dose_mcg_day=900), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("bench", "set", nl_per_step=50, low_reservoir_ml=1), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("bench", "refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=5), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("patient", "sim.run", until_s=10), "E_AUTH_FORBIDDEN")
    refused(sim.request_as("root", "program", mode="stopped"), "E_AUTH_ROLE")
    refused(sim.request_raw(sim.frame("program", {"mode": "stopped"}, ["clinician"], key=WRONG_KEY)), "E_AUTH_ROLE")
    assert settings(sim) == before
    # what each role may do
    ok(sim.request_as("bench", "set", nl_per_step=50))
    ok(sim.request_as("bench", "sim.pump"))
    ok(sim.request_as(None, "sim.state"))                 # read-only: public (on a bench)
    ok(sim.request_as("patient", "demand"))
    ok(sim.request_as("patient", "ack"))


def test_role_map_defaults_to_clinician_only():
    for cmd in ("program", "refill", "set", "bolus", "prime", "selftest", "set_time", "keys.provision", "no.such"):
        assert roles.allowed("clinician", cmd, {})
        assert not roles.allowed("patient", cmd, {}), cmd
    for cmd in ("program", "refill", "bolus", "prime", "selftest", "demand", "ack", "no.such"):
        assert not roles.allowed("bench", cmd, {}), cmd
    assert roles.allowed("bench", "set", {"id": 1, "cmd": "set", "nl_per_step": 50})
    assert not roles.allowed("bench", "set", {"cmd": "set"})
    assert roles.allowed("bench", "calibrate", {}) and roles.allowed("bench", "sim.run", {})
    assert not roles.allowed("nobody", "status", {}) and not roles.allowed(None, "demand", {})
    assert roles.is_public("status") and not roles.is_public("demand")


def test_replay_is_refused_before_and_after_a_reset():
    sim = filled_sim(500, 2000, 20)
    frame = program_frame(sim, 400)
    ok(sim.request_raw(frame))
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    older = program_frame(sim, 300, ctr=sim.pump.protocol.auth.last_ctr("clinician") - 1)
    refused(sim.request_raw(older), "E_AUTH_REPLAY")
    sim.power_cycle(0)
    before = settings(sim)
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    refused(sim.request_raw(older), "E_AUTH_REPLAY")
    assert settings(sim) == before
    assert len(events(sim, "program")) == 2   # filled_sim's and the one accepted frame
    ok(sim.request("program", mode="continuous", dose_mcg_day=450))   # the next counter works


def test_refused_command_consumes_its_counter():
    """A frame refused for its arguments cannot be replayed later, when it might be accepted."""
    sim = filled_sim(500, 2000, 20)
    frame = sim.frame("set", {"low_reservoir_ml": 25}, "clinician")   # above the capacity: E_CAPACITY
    refused(sim.request_raw(frame), "E_CAPACITY")
    ok(sim.request("set", reservoir_capacity_ml=40))
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")


def test_power_cut_after_the_counter_write_cannot_allow_a_replay():
    sim = filled_sim(500, 2000, 20)
    sim.power_cycle(0)             # after a reset the next frame writes a new counter lease first
    frame = program_frame(sim, 400)
    sim.flash.tear_on_write(1, 0)   # write 0: the counter (write-ahead); write 1: the settings
    try:
        sim.request_raw(frame)
        raise AssertionError("the power cut did not happen")
    except PowerLoss:
        pass
    sim.flash.tear_cancel()
    sim.power_cycle(0)
    refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    assert ok(sim.request("status"))["therapy"]["dose_ng_day"] == 500_000


def _cut_power_in_counter_write(flash, cut):
    """The next write of the auth record stops after `cut` bytes and the power goes."""
    real_write = flash.write

    def write(name, data):
        if name.startswith("auth"):
            flash.write = real_write
            flash.files[name] = bytes(data[:cut])
            raise PowerLoss()
        real_write(name, data)
    flash.write = write


def test_power_cut_at_every_byte_of_the_counter_write_runs_the_command_at_most_once():
    outcomes = set()
    cut = 0
    while True:
        sim = filled_sim(500, 2000, 20)
        sim.power_cycle(0)         # the next frame writes a new counter lease (auth.py CTR_LEASE)
        frame = program_frame(sim, 400)
        size = len(sim.flash.files["auth"])
        _cut_power_in_counter_write(sim.flash, cut)
        try:
            sim.request_raw(frame)
            raise AssertionError("no power cut")
        except PowerLoss:
            pass
        sim.power_cycle(0)
        first = sim.request_raw(frame)
        refused(sim.request_raw(frame), "E_AUTH_REPLAY")
        runs = len([e for e in events(sim, "program") if e["data"]["new"].get("dose_ng_day") == 400_000])
        # a torn counter: the frame never ran and runs once now; a whole one: consumed, never runs
        assert runs == (0 if cut == size else 1) and first["ok"] == (cut < size), (cut, size, first)
        outcomes.add(runs)
        if cut == size:
            break
        cut = min(size, cut + 5)
    assert outcomes == {0, 1}


def test_counter_too_far_ahead_is_stale():
    sim = filled_sim(500, 2000, 20)
    no_lockout(sim)
    last = sim.pump.protocol.auth.last_ctr("clinician")
    before = settings(sim)
    refused(sim.request_raw(program_frame(sim, ctr=last + MAX_JUMP + 1)), "E_AUTH_STALE")
    refused(sim.request_raw(program_frame(sim, ctr=1.5 + last)), "E_ARG_TYPE")
    refused(sim.request_raw(program_frame(sim, ctr=True)), "E_ARG_TYPE")
    refused(sim.request_raw(program_frame(sim, ctr=-3)), "E_AUTH_REPLAY")
    assert settings(sim) == before
    ok(sim.request_raw(program_frame(sim, ctr=last + MAX_JUMP)))


def test_rate_limit_locks_out_then_lets_in_again():
    sim = filled_sim(500, 2000, 20)
    before = settings(sim)
    t0 = sim.clock.elapsed_ms // 1000
    for _ in range(5):
        refused(sim.request_raw(program_frame(sim, key=WRONG_KEY)), "E_AUTH_MAC")
    # locked out: even a valid frame waits; public reads still work
    refused(sim.request_raw(program_frame(sim, 400)), "E_AUTH_RATE_LIMIT")
    refused(sim.request_as("patient", "demand"), "E_AUTH_RATE_LIMIT")
    refused(sim.request_as(None, "program", mode="stopped"), "E_AUTH_RATE_LIMIT")
    state = ok(sim.request("keys.state"))
    assert 0 < state["locked_s"] <= LOCKOUT_S
    assert settings(sim) == before
    sim.run_until_s(t0 + LOCKOUT_S - 2)
    refused(sim.request_raw(program_frame(sim, 400)), "E_AUTH_RATE_LIMIT")
    sim.run_until_s(t0 + LOCKOUT_S + 1)
    ok(sim.request_raw(program_frame(sim, 400)))
    kinds = [e["type"] for e in events(sim) if e["type"].startswith("auth")]
    assert kinds == ["auth_fail"] * 5 + ["auth_lockout", "auth_lockout_end"]
    assert events(sim, "auth_lockout_end")[0]["data"]["refused"] == 4


def test_failures_spread_out_do_not_lock_out():
    sim = filled_sim(500, 2000, 20)
    for i in range(12):
        sim.run_until_s(100 * (i + 1))
        refused(sim.request_raw(program_frame(sim, key=WRONG_KEY)), "E_AUTH_MAC")
    ok(sim.request("program", mode="continuous", dose_mcg_day=400))


def test_a_flood_is_logged_in_bounded_records():
    sim = filled_sim(500, 2000, 20)
    no_lockout(sim)   # only the log budget bounds the records
    for _ in range(200):
        sim.request_raw(program_frame(sim, key=WRONG_KEY))
    sim.run_until_s(3600)
    sim.request_raw(program_frame(sim, key=WRONG_KEY))
    assert len(events(sim, "auth_fail")) == 6
    assert [e["data"]["count"] for e in events(sim, "auth_fail_suppressed")] == [195]


def test_bench_role_and_commands_need_a_bench():
    sim = filled_sim(500, 2000, 20)
    sim.hw.bench = None
    before = settings(sim)
    refused(sim.request_as("bench", "set", nl_per_step=49), "E_BENCH_DISABLED")
    refused(sim.request("sim.run", until_s=10), "E_BENCH_DISABLED")
    refused(sim.request_as(None, "sim.state"), "E_BENCH_DISABLED")
    assert settings(sim) == before
    assert not ok(sim.request("keys.state"))["bench"]


def test_counter_write_failure_refuses_therapy_changes_but_not_the_bench():
    sim = filled_sim(500, 2000, 20)
    sim.power_cycle(0)             # every role's next frame writes a new counter lease
    ctr = list(sim.pump.protocol.auth.ctr)
    sim.flash.fail_writes = True
    refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_STORAGE")
    refused(sim.request_as("patient", "demand"), "E_STORAGE")
    assert ok(sim.request("status"))["therapy"]["dose_ng_day"] == 500_000
    ok(sim.request("sim.fault", fault="clear"))          # acts on the simulator's mocks only
    assert not sim.flash.fail_writes
    ok(sim.request("program", mode="continuous", dose_mcg_day=400))
    assert sim.pump.protocol.auth.ctr[0] > ctr[0]


# --- the lockout is not extended by refusals during it (issue 13 item 9) -------------------------------

def _lock_out(sim):
    for _ in range(5):
        refused(sim.request_raw(program_frame(sim, key=WRONG_KEY)), "E_AUTH_MAC")
    return sim.clock.elapsed_ms // 1000


def test_refusals_during_a_lockout_do_not_extend_it():
    """The review's case: a board without a bench, five unsigned sim.state (E_BENCH_DISABLED) every
    ~100 s during the lockout; the lockout still ends LOCKOUT_S after it began."""
    sim = filled_sim(500, 2000, 20)
    sim.hw.bench = None
    t0 = _lock_out(sim)
    for k in range(1, 4):
        sim.run_until_s(t0 + 98 * k)
        for _ in range(5):
            refused(sim.request_as(None, "sim.state"), "E_BENCH_DISABLED")
        refused(sim.request_raw(program_frame(sim, key=WRONG_KEY)), "E_AUTH_RATE_LIMIT")
        refused(sim.request_as("patient", "demand"), "E_AUTH_RATE_LIMIT")
    sim.run_until_s(t0 + LOCKOUT_S - 1)
    refused(sim.request_raw(program_frame(sim, 400)), "E_AUTH_RATE_LIMIT")
    sim.run_until_s(t0 + LOCKOUT_S)
    ok(sim.request_raw(program_frame(sim, 400)))
    end = events(sim, "auth_lockout_end")
    assert len(end) == 1 and end[0]["data"]["refused"] == 3 * 7 + 1
    assert len(events(sim, "auth_lockout")) == 1


def test_sim_run_ends_a_lockout_in_virtual_time():
    """On the simulator only sim.run moves time: it must pass a lockout (signed, checked as ever),
    or the lockout would never end."""
    sim = filled_sim(500, 2000, 20)
    t0 = _lock_out(sim)
    refused(sim.request_raw(program_frame(sim, 400)), "E_AUTH_RATE_LIMIT")
    refused(sim.request_raw(sim.frame("sim.run", {"until_s": t0 + LOCKOUT_S}, "bench", key=WRONG_KEY)),
            "E_AUTH_MAC")
    refused(sim.request_as("bench", "set", nl_per_step=50), "E_AUTH_RATE_LIMIT")   # not a bench command
    ok(sim.request_as("bench", "sim.run", until_s=t0 + LOCKOUT_S // 2))
    assert sim.clock.horizon_ms == (t0 + LOCKOUT_S // 2) * 1000
    sim.run_to_horizon()          # what boards/sim/main.py does before it reads the next host line
    refused(sim.request_raw(program_frame(sim, 400)), "E_AUTH_RATE_LIMIT")
    ok(sim.request_as("bench", "sim.run", until_s=t0 + LOCKOUT_S))
    sim.run_to_horizon()
    assert sim.clock.elapsed_ms == (t0 + LOCKOUT_S) * 1000
    ok(sim.request_raw(program_frame(sim, 400)))
    assert len(events(sim, "auth_lockout")) == 1


# --- the parts on their own: the bounded log and the storage status (no pump) ------------------------

class _Events:
    def __init__(self):
        self.records = []

    def add(self, t_s, kind, data):
        self.records.append((t_s, kind, data))


class _Status:
    def __init__(self):
        self.calls = []

    def storage_ok(self):
        self.calls.append("ok")

    def storage_failed(self, what, exc):
        self.calls.append((what, type(exc).__name__))


def _timebase(wall_s):
    from firmware.timebase import Timebase
    from hal.mock.clock import VirtualClock
    clock = VirtualClock()
    return Timebase(clock, wall_s, clock.ticks_ms())


def test_ratelog_logs_the_first_of_a_window_and_counts_the_rest_per_code():
    from firmware.ratelog import RateLog
    events = _Events()
    tb = _timebase(10_000)
    tb.set_wall(50_000)                   # records carry wall s, windows run on mono s
    rl = RateLog(events, tb, "demand_refused", 600, 2)
    assert rl.flush(tb.mono_s()) is False  # no window open: housekeeping need not come back
    for code in ("E_A", "E_B", "E_A", "E_B", "E_A"):
        rl.add({"error": code})
    assert events.records == [(50_000, "demand_refused", {"error": "E_A"}),
                              (50_000, "demand_refused", {"error": "E_B"})]
    assert rl.flush(tb.mono_s() + 599) is True    # the window is not over: still open
    assert len(events.records) == 2
    tb.wall_s += 600
    assert rl.flush(tb.mono_s()) is False         # over: its counts written, none open
    assert sorted(events.records[2:], key=lambda r: r[2]["error"]) == [
        (50_600, "demand_refused_suppressed", {"error": "E_A", "count": 2, "window_s": 600}),
        (50_600, "demand_refused_suppressed", {"error": "E_B", "count": 1, "window_s": 600})]
    rl.add({"error": "E_C"})              # a new window logs again
    assert events.records[-1] == (50_600, "demand_refused", {"error": "E_C"})


def test_auth_reports_counter_writes_to_its_storage_status():
    from firmware.auth import CTR_LEASE, Auth
    from firmware.errors import CommandError
    from firmware.hmac_sha256 import Hmac
    from hal.mock.storage import MockFlash

    class _Hw:
        storage = MockFlash()
        bench = None
        board = "test"

    status = _Status()
    events = _Events()
    auth = Auth(_Hw, events, _timebase(1000), status)
    assert status.calls == [] and not auth.provisioned()
    auth.install({"clinician": WRONG_KEY}, "test")
    assert status.calls == ["ok"]
    body = b'{"cmd": "ack", "role": "clinician", "ctr": 1}'
    mac = Hmac(WRONG_KEY).hexdigest(body)
    auth.check("ack", {}, "clinician", 1, body, mac)           # reserves 1..CTR_LEASE: one write
    assert status.calls == ["ok", "ok"] and auth.verified_role == "clinician"
    body = b'{"cmd": "ack", "role": "clinician", "ctr": %d}' % (CTR_LEASE + 1)
    mac = Hmac(WRONG_KEY).hexdigest(body)
    _Hw.storage.fail_writes = True
    try:
        auth.check("ack", {}, "clinician", CTR_LEASE + 1, body, mac)
    except CommandError as err:
        assert err.code == "E_STORAGE"
    else:
        raise AssertionError("a frame ran without its counter on flash")
    assert status.calls == ["ok", "ok", ("auth counters", "OSError")]
    assert auth.ctr[0] == CTR_LEASE + 1                        # consumed in RAM all the same
    assert [r[1] for r in events.records] == ["keys", "auth_fail"]


def test_keys_state_reply_in_full():
    sim = filled_sim(0, 2000, 20)
    state = ok(sim.request("keys.state"))
    del state["id"], state["ok"]
    ctr = sim.pump.protocol.auth.ctr
    assert state == {
        "roles": {"clinician": {"key": True, "ctr": ctr[0]}, "patient": {"key": True, "ctr": 0},
                  "bench": {"key": True, "ctr": 0}},
        "bench": True, "record": "ok", "locked_s": 0, "failures": 0,
        "limits": {"max_failures": 5, "window_s": 60, "lockout_s": 300, "max_jump": 1 << 20,
                   "rollover_ctr": (1 << 30) - 1024, "reset_ctr": 1 << 29, "ctr_lease": 64,
                   "ctr_max": (1 << 30) - 1}}
    assert ctr[0] == 1                                          # the refill: the clinician's first frame


def test_a_counter_write_failure_raises_memory_error_and_the_next_write_clears_it():
    sim = filled_sim(500, 2000, 20)
    sim.power_cycle(0)             # the next clinician frame writes a new counter lease
    sim.flash.fail_writes = True
    refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_STORAGE")
    alarms = ok(sim.request("status"))["alarms"]
    assert [(a["code"], a["tier"]) for a in alarms] == [("MEMORY_ERROR", "non-critical")]
    sim.flash.fail_writes = False
    ok(sim.request("program", mode="continuous", dose_mcg_day=400))
    assert ok(sim.request("status"))["alarms"] == []


def test_protocol_housekeeping_looks_only_while_a_window_or_a_lockout_is_open():
    """Issue 16: housekeeping that does nothing when nothing is due. Every failure window and lockout
    opens while a line is served; once housekeeping found none open it skips them until the next line,
    and the counts and the lockout's end are still written on time."""
    from firmware.auth import LOG_WINDOW_S
    sim = filled_sim(500, 2000, 20)
    auth = sim.pump.protocol.auth
    real = auth.housekeeping
    seen = []

    def spy(now):
        still_open = real(now)
        seen.append(still_open)
        return still_open

    auth.housekeeping = spy
    t0 = sim.clock.elapsed_ms // 1000
    sim.run_until_s(t0 + 3600)                  # an hour, no line: one look, then none
    assert seen == [False]
    del seen[:]
    t1 = sim.clock.elapsed_ms // 1000
    for _ in range(5):                          # a lockout (5 failures) and a failure window
        sim.request_raw(program_frame(sim, key=WRONG_KEY))
    sim.run_until_s(t1 + 3 * 3600)
    # housekeeping every 60 s looks while the window (LOG_WINDOW_S, longer than LOCKOUT_S) runs,
    # then once more finds it over and stops
    windows = LOG_WINDOW_S // 60
    assert seen[-1] is False and all(seen[:-1])
    assert windows <= len(seen) <= windows + 2, seen
    assert len(events(sim, "auth_lockout_end")) == 1
    end = events(sim, "auth_lockout_end")[0]["t_s"]
    assert t1 + LOCKOUT_S <= end <= t1 + LOCKOUT_S + 60 + 30     # within a housekeeping period (+ slack)
