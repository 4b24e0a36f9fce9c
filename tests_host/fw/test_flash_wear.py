"""Flash wear from the protocol (issue 13 item 15): accepted frames and refused demands must not cost a
flash write each. The replay counter is written ahead in leases (one write per CTR_LEASE frames of a
role, never letting a frame run twice, not even across resets); refused demands and acks that silence
nothing are logged in bounded records that keep the count. docs/protocol.md states the budget."""

from helpers import filled_sim, ok, refused

from firmware.auth import CTR_LEASE


def _events(sim, kind):
    out = []
    since = 0
    while True:
        got = ok(sim.request("log", since=since, limit=64))["events"]
        out.extend(e for e in got if e["type"] == kind)
        if len(got) < 64:
            return out
        since = got[-1]["seq"] + 1


def test_a_thousand_patient_acks_write_flash_a_few_times():
    sim = filled_sim(500, 2000, 20)
    writes0 = sim.flash.writes
    for _ in range(1000):
        assert ok(sim.request_as("patient", "ack"))["acknowledged"] == []
    writes = sim.flash.writes - writes0
    # counter leases: ceil(1000 / CTR_LEASE) record writes, plus the counter mark once; no log records
    assert writes <= (1000 + CTR_LEASE - 1) // CTR_LEASE + 1, writes
    assert _events(sim, "alarm_ack") == []


def test_a_thousand_refused_demands_are_logged_in_bounded_records_that_keep_the_count():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    ok(sim.request_as("patient", "demand"))
    t0 = sim.clock.elapsed_ms // 1000
    writes0 = sim.flash.writes
    for i in range(1000):
        if i % 100 == 0:
            sim.run_until_s(t0 + i)        # 1000 presses over 1000 s, all within the lockout
        refused(sim.request_as("patient", "demand"), "E_DEMAND_LOCKOUT")
    writes = sim.flash.writes - writes0
    sim.run_until_s(t0 + 3000)             # the last window closes: its count is written
    logged = _events(sim, "demand_refused")
    counted = _events(sim, "demand_refused_suppressed")
    assert len(logged) + sum(e["data"]["count"] for e in counted) == 1000
    assert len(logged) + len(counted) <= 2 * 4, (len(logged), len(counted))
    assert all(e["data"]["error"] == "E_DEMAND_LOCKOUT" for e in logged + counted)
    # counter leases + the bounded log records + journal writes meanwhile (hourly)
    assert writes <= (1000 + CTR_LEASE - 1) // CTR_LEASE + 1 + len(logged) + len(counted) + 2, writes


def test_counter_leases_never_let_a_frame_run_twice_across_resets():
    sim = filled_sim(500, 2000, 20)
    seen = []
    for round_ in range(5):
        for i in range(CTR_LEASE // 2 + 7 * round_):
            frame = sim.frame("set", {"low_reservoir_ml": 2 + (i % 3)}, "clinician")
            ok(sim.request_raw(frame))
            seen.append(frame)
        sim.power_cycle(0)
        sim.pump.protocol.auth.max_failures = 1 << 30
        for frame in seen:
            refused(sim.request_raw(frame), "E_AUTH_REPLAY")
    last = sim.pump.protocol.auth.last_ctr("clinician")
    # each reset skips at most one lease of counters
    assert last <= len(seen) + 2 + 5 * CTR_LEASE, last


def test_repeated_acks_of_a_silenced_alarm_write_nothing_and_do_not_stretch_the_silence():
    sim = filled_sim(1000, 500, 3)          # LOW_RESERVOIR (non-critical) at 12 h (tests_host/fw/test_alarms.py)
    sim.run_until_s(43_200 + 120)
    t_ack = sim.clock.elapsed_ms
    assert ok(sim.request_as("patient", "ack"))["acknowledged"] == ["LOW_RESERVOIR"]
    writes0 = sim.flash.writes
    for i in range(1000):
        if i % 100 == 0:
            sim.run_until_s(43_200 + 120 + 6 * i)       # over 100 min, all within the 4 h silence
        assert ok(sim.request_as("patient", "ack"))["acknowledged"] == []
    assert sim.flash.writes - writes0 <= (1000 + CTR_LEASE - 1) // CTR_LEASE + 2     # leases + a journal
    assert len(_events(sim, "alarm_ack")) == 1
    # the silence still ends 4 h after the one ack that silenced something
    sim.run_until_s(43_200 + 120 + 4 * 3600 + 120)
    tones = [t for t, f in sim.buzzer.changes if f and t_ack + 4 * 3600_000 <= t < t_ack + 4 * 3600_000 + 120_000]
    assert tones


def test_auth_failures_paced_to_dodge_the_lockout_are_logged_in_bounded_records():
    """4 bad frames a minute stay under the lockout (5 in 60 s); an hour of them (240) must not cost
    240 log records: at most 5 + one count per code in each 10 min window, every failure counted."""
    sim = filled_sim(500, 2000, 20)
    wrong = b"\x42" * 32
    t0 = sim.clock.elapsed_ms // 1000
    for minute in range(60):
        sim.run_until_s(t0 + 60 * minute + 1)
        for _ in range(4):
            refused(sim.request_raw(sim.frame("program", {"mode": "stopped"}, "clinician", key=wrong)), "E_AUTH_MAC")
    sim.run_until_s(t0 + 3600 + 700)       # the last window closes
    logged = _events(sim, "auth_fail")
    counted = _events(sim, "auth_fail_suppressed")
    assert len(logged) + sum(e["data"]["count"] for e in counted) == 240
    assert len(logged) <= 7 * 5 and len(counted) <= 7, (len(logged), len(counted))
    assert _events(sim, "auth_lockout") == []
    assert ok(sim.request("status"))["therapy"]["mode"] == "continuous"
