"""Power loss, resets and storage faults: nothing recorded is lost, nothing is delivered twice."""

import sys

from helpers import DAY_S, filled_sim, make_sim, ok, refused

from hal.mock.storage import PowerLoss

JOURNAL_S = 3600


def _status(sim):
    return ok(sim.request("status"))


def test_settings_and_log_survive_a_power_cycle():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("program", mode="flex", steps=[{"start_s": 0, "dose_mcg_day": 400},
                                                   {"start_s": 8 * 3600, "dose_mcg_day": 600}]))
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3},
                   low_reservoir_ml=4))
    before = _status(sim)
    events_before = ok(sim.request("log", limit=64))["events"]
    sim.run_until_s(5000)
    sim.power_cycle(0)
    after = _status(sim)
    for key in ("therapy", "demand", "drug", "conc_mcg_ml", "low_reservoir_nl", "step_pl"):
        assert after[key] == before[key], key
    events_after = ok(sim.request("log", limit=64))["events"]
    assert events_after[:len(events_before)] == events_before
    resets = [e for e in events_after if e["type"] == "reset"]
    assert resets[-1]["data"]["cause"] == "power_on"


def test_reservoir_estimate_after_reset_is_within_one_interval_on_the_safe_side():
    for cut_s in (3600 + 1, 3600 + 1800, 2 * 3600 - 1):
        sim = filled_sim(500, 2000, 20)
        sim.run_until_s(cut_s)
        true_left_pl = 20_000_000_000 - sim.mock_pump.moved_pl
        sim.power_cycle(0)
        estimate_pl = _status(sim)["reservoir_pl"]
        one_interval_pl = 250_000 * 1000 * JOURNAL_S // 86400 + 50_000
        assert estimate_pl <= true_left_pl, (cut_s, estimate_pl, true_left_pl)       # safe side
        assert true_left_pl - estimate_pl <= one_interval_pl, (cut_s, true_left_pl - estimate_pl)


def test_power_cycles_every_few_hours_for_30_days_never_deliver_more():
    plain = filled_sim(500, 2000, 20)
    plain.run_until_s(30 * DAY_S)
    cycled = filled_sim(500, 2000, 20)
    cycles = 0
    t = 0
    while t + 5 * 3600 < 30 * DAY_S:
        t += 5 * 3600 + 17 * 60        # every 5 h 17 min, off 0 s
        cycled.run_until_s(t)
        cycled.power_cycle(0)
        cycles += 1
    cycled.run_until_s(30 * DAY_S)
    delivered_plain = plain.mock_pump.moved_pl
    delivered_cycled = cycled.mock_pump.moved_pl
    assert delivered_cycled <= delivered_plain
    lost_pl = delivered_plain - delivered_cycled
    assert lost_pl <= cycles * 50_000          # at most the partial step of each cycle
    assert lost_pl <= cycles * 250_000 * 1000 * JOURNAL_S // 86400   # far inside one interval per cycle
    resets = [e for e in ok(cycled.request("log", limit=64))["events"] if e["type"] == "reset"]
    assert len(resets) >= 30
    assert all(r["data"]["off_max_s"] <= JOURNAL_S for r in resets)     # off 0 s: inside the interval


def test_delivery_missed_while_off_is_logged_not_made_up():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(DAY_S)
    pulses = sim.mock_pump.pulses
    sim.power_cycle(6 * 3600)
    sim.run_until_s(DAY_S + 6 * 3600 + 3600)
    reset = [e for e in ok(sim.request("log", limit=64))["events"] if e["type"] == "reset"][-1]
    off_max = reset["data"]["off_max_s"]
    assert 6 * 3600 <= off_max <= 7 * 3600                                # 6 h + time since the journal
    assert reset["data"]["missed_max_nl"] == 250_000 * off_max // 86400
    assert sim.mock_pump.pulses - pulses <= 3600 * 5000 // 86400 + 1   # only the hour after the boot


def test_watchdog_resets_a_hung_loop_and_therapy_resumes():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    ok(sim.request("sim.hang"))
    sim.run_until_s(2 * 3600)
    events = ok(sim.request("log", limit=64))["events"]
    assert [e["data"]["cause"] for e in events if e["type"] == "reset"][-1] == "watchdog"
    status = _status(sim)
    assert status["rate_nl_day"] == 250_000 and status["therapy"]["mode"] == "continuous"


def test_corrupted_settings_fall_back_to_the_safe_state_never_a_default_therapy():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    for name in ("settings", "settings.new"):
        data = sim.flash.files.get(name)
        if data:
            sim.flash.files[name] = data[:-1] + bytes([data[-1] ^ 0xFF])
    sim.power_cycle(0)
    status = _status(sim)
    assert status["therapy"] == {"mode": "stopped"} and status["rate_nl_day"] == 0 and status["drug"] is None
    alarm = [a for a in status["alarms"] if a["code"] == "MEMORY_ERROR"]
    assert alarm and alarm[0]["tier"] == "critical"
    sim.run_until_s(DAY_S)
    assert not sim.mock_pump.enabled
    # a clinician refills and programmes again: the settings are written and the alarm clears
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20))
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    assert [a["code"] for a in _status(sim)["alarms"]] == []


def test_corrupted_journal_assumes_the_reservoir_at_the_low_threshold():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    for name in ("journal", "journal.new"):
        if name in sim.flash.files:
            sim.flash.files[name] = b"garbage"
    sim.power_cycle(0)
    status = _status(sim)
    assert status["reservoir_pl"] == 2_000_000_000
    codes = {a["code"]: a["tier"] for a in status["alarms"]}
    assert codes == {"MEMORY_ERROR": "non-critical", "LOW_RESERVOIR": "non-critical"}
    assert status["rate_nl_day"] == 250_000


def test_flash_failure_raises_memory_error_and_changes_nothing():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("sim.fault", fault="flash_fail"))
    refused(sim.request("program", mode="continuous", dose_mcg_day=400), "E_STORAGE")
    status = _status(sim)
    assert status["therapy"]["dose_ng_day"] == 500_000
    assert {a["code"]: a["tier"] for a in status["alarms"]} == {"MEMORY_ERROR": "non-critical"}
    ok(sim.request("sim.fault", fault="clear"))
    sim.run_until_s(2 * 3600)                           # the next journal write succeeds
    assert _status(sim)["alarms"] == []


def test_faults_survive_a_reset():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(600)
    ok(sim.request("sim.fault", fault="motor_stall"))
    sim.run_until_s(900)
    sim.power_cycle(0)
    status = _status(sim)
    assert status["stopped_by"] == ["motor stall"]
    assert [a["code"] for a in status["alarms"]] == ["MOTOR_STALL"]


def test_clock_set_backwards_and_forwards_neither_repeats_nor_skips():
    ref = filled_sim(500, 2000, 20)
    ref.run_until_s(DAY_S)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", demand={"dose_mcg": 25, "duration_s": 600, "lockout_s": 3600, "max_per_day": 3}))
    sim.run_until_s(3600)
    ok(sim.request("demand"))
    reply = ok(sim.request("set_time", wall_s=3600 + 7200))            # +2 h
    assert reply["jump_s"] == 7200
    refused(sim.request("demand"), "E_DEMAND_LOCKOUT")                 # lockout runs on monotonic time
    sim.run_until_s(6 * 3600)
    ok(sim.request("set_time", wall_s=100))                              # far backwards
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.pulses == ref.mock_pump.pulses + 250           # + the one demand bolus
    kinds = [e["type"] for e in ok(sim.request("log", limit=64))["events"]]
    assert kinds.count("clock_set") == 2


def test_board_without_rtc_resumes_time_from_the_journal():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3 * 3600 + 100)
    sim.power_cycle(600, rtc_lost=True)
    status = _status(sim)
    assert 3 * 3600 <= status["t_s"] <= 3 * 3600 + 100               # the last journal, not the RTC
    reset = [e for e in ok(sim.request("log", limit=64))["events"] if e["type"] == "reset"][-1]
    assert reset["data"]["off_max_s"] is None


def test_event_log_is_bounded_and_counts_what_it_dropped():
    sim = make_sim()
    for i in range(260):
        sim.request("program", mode="bogus%d" % i)           # refused: no log
        ok(sim.request("selftest"))                           # each self-test is one log record
    sim.power_cycle(0)
    log = ok(sim.request("log", since=0, limit=64))
    total = log["next"]
    assert log["dropped"] == total - 200
    assert log["events"][0]["seq"] == total - 200


def _writes_for(sim, action):
    """Byte sizes of the flash writes an action makes (recorded, then undone)."""
    sizes = []
    real = sim.flash.write

    def spy(name, data):
        sizes.append((name, len(data)))
        real(name, data)
    sim.flash.write = spy
    action(sim)
    sim.flash.write = real
    return sizes


def _torn_boot_cases(action, check):
    """Run `action` with the power cut after every byte of each of its writes; boot; check.
    On MicroPython every 7th byte (and the last), to keep the run short: a smaller share."""
    stride = 7 if sys.implementation.name == "micropython" else 1
    probe = filled_sim(500, 2000, 20)
    probe.run_until_s(5000)
    sizes = _writes_for(probe, action)
    assert sizes, "the action wrote nothing"
    cases = 0
    for index, (name, size) in enumerate(sizes):
        cuts = list(range(0, size + 1, stride))
        if cuts[-1] != size:
            cuts.append(size)
        for cut in cuts:
            sim = filled_sim(500, 2000, 20)
            sim.run_until_s(5000)
            before = _status(sim)
            events_before = ok(sim.request("log", limit=64))["events"]
            sim.flash.tear_on_write(index, cut)
            try:
                action(sim)
            except PowerLoss:
                pass
            sim.flash.tear_cancel()
            sim.power_cycle(0)
            after = _status(sim)
            events_after = ok(sim.request("log", limit=64))["events"]
            check(before, after, name, cut, size)
            lost = [e for e in events_before if e not in events_after]
            assert not lost, (name, cut, lost)
            cases += 1
    return cases


def _program(sim):
    sim.request("program", mode="continuous", dose_mcg_day=400)


def _journal(sim):
    sim.pump.store.write_journal()


def _log_record(sim):
    sim.request("selftest")      # one log record (an ack with no alarm active writes nothing)


def test_power_cut_at_every_byte_of_a_settings_write():
    def check(before, after, name, cut, size):
        assert after["therapy"] in ({"mode": "continuous", "dose_ng_day": 500_000},
                                    {"mode": "continuous", "dose_ng_day": 400_000}), (name, cut)
    assert _torn_boot_cases(_program, check) > (100 if sys.implementation.name != "micropython" else 15)


def test_power_cut_at_every_byte_of_a_journal_write():
    def check(before, after, name, cut, size):
        moved_bound = 250_000 * 1000 * JOURNAL_S // 86400 + 50_000
        assert after["reservoir_pl"] <= before["reservoir_pl"], (name, cut)
        assert before["reservoir_pl"] - after["reservoir_pl"] <= 2 * moved_bound, (name, cut)
        assert after["therapy"] == before["therapy"]
    assert _torn_boot_cases(_journal, check) > (100 if sys.implementation.name != "micropython" else 15)


def test_power_cut_at_every_byte_of_a_log_record_write():
    def check(before, after, name, cut, size):
        assert after["therapy"] == before["therapy"]
    # the replay counter is leased (firmware/authstore.py): the self-test writes its ~40-byte log record alone
    assert _torn_boot_cases(_log_record, check) > (35 if sys.implementation.name != "micropython" else 5)


# --- issue 13 item 2: the calibration reaches every consumer after a reset --------------------------

def test_calibration_survives_a_reset_in_delivery_not_only_in_the_record():
    # a pump whose true step is 60 nL, calibrated on the bench to 60 nL; 500 mcg/day at 2000 mcg/mL
    # is 250 000 nL/day: 250 000 // 60 = 4166 whole steps a day (one every 20.736 s), 249 960 nL
    sim = filled_sim(0, 2000, 20, true_pl_per_step=60_000)
    ok(sim.request_as("bench", "set", nl_per_step=60))
    ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    sim.run_until_s(DAY_S)
    assert sim.mock_pump.moved_pl == 4166 * 60_000
    sim.power_cycle(10)
    status = _status(sim)
    assert status["step_pl"] == 60_000
    moved = sim.mock_pump.moved_pl
    steps = status["steps"]
    sim.run_until_s(2 * DAY_S + 10)
    # the day after the reset moves the same 4166 steps of 60 nL, not 5000 (300 000 nL, +20 %)
    assert sim.mock_pump.moved_pl - moved == 4166 * 60_000
    status = _status(sim)
    assert status["steps"] - steps == 4166
    assert status["rate_nl_day"] == 250_000
    # the guard converts the allowance with the restored step: 250 000 nL / 60 nL -> 4167 pulses
    assert status["guard"]["limit_pulses"] == 4167 + 416 + 20


# --- issue 13 item 4: assumed pulses are not counted pulses -----------------------------------------

def test_short_power_cuts_without_rtc_do_not_add_assumptions_up_in_the_guard():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(2 * DAY_S)
    before = _status(sim)["guard"]["window_pulses"]
    assert 4900 <= before <= 5000 + 1
    windows = []
    for _ in range(3):
        sim.power_cycle(1, rtc_lost=True)
        guard = _status(sim)["guard"]
        # the clock resumed at the journal's time: the time the assumed pulses stand for is not in the
        # window, so they do not count against it (three cuts added 3 x 215: 5593 > limit 5520, a trip)
        assert guard["assumed_pulses"] == 0
        windows.append(guard["window_pulses"])
    assert windows[0] <= before and windows == [windows[0]] * 3
    pulses = sim.mock_pump.pulses
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + DAY_S)
    assert [a["code"] for a in _status(sim)["alarms"]] == []
    assert sim.mock_pump.pulses - pulses == 5000          # the therapy went on at its rate


def test_a_long_journal_interval_and_one_cut_without_rtc_do_not_trip_the_guard():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", journal_interval_s=86400))
    sim.run_until_s(2 * DAY_S - 60)
    sim.power_cycle(1, rtc_lost=True)
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + DAY_S)
    assert [a["code"] for a in _status(sim)["alarms"]] == []


def test_assumed_pulses_with_a_kept_rtc_are_bounded_by_the_time_off_and_leave_the_window():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(2 * DAY_S + 1800)             # last journal at 2 d (hourly grid)
    sim.power_cycle(600)
    guard = _status(sim)["guard"]
    # 2400 s since the journal at 250 000 nL/day: 6 944 444 pL, plus one partial step: 139 pulses
    assert guard["assumed_pulses"] == (250_000 * 1000 * 2400 // 86400 + 50_000) // 50_000
    sim.run_until_s(3 * DAY_S + 2400 + 900)      # 24 h and one bucket later they have left the window
    assert _status(sim)["guard"]["assumed_pulses"] == 0


def test_the_guard_still_trips_a_runaway_after_cuts_without_rtc():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(DAY_S)
    for _ in range(3):
        sim.power_cycle(1, rtc_lost=True)
    misbehave_s = _status(sim)["t_s"]
    ok(sim.request("sim.misbehave", gain=10))
    start = sim.mock_pump.pulses
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + DAY_S)
    alarms = [n for n in sim.notices if n["notice"] == "alarm_raise" and n["code"] == "OVERDELIVERY_GUARD"]
    assert len(alarms) == 1 and alarms[0]["t_s"] > misbehave_s     # tripped by the runaway, not the cuts
    assert sim.mock_pump.pulses - start <= 5520 + 1


# --- issue 13 item 8: a bolus cut short by a reset is closed and counted ----------------------------

def test_a_bolus_cut_short_by_a_reset_is_closed_and_counted_as_missed():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    ok(sim.request("bolus", dose_mcg=50, duration_s=3600))      # 500 steps of 50 nL; journal at 3600
    sim.run_until_s(3600 + 1800)                                # about half of it given
    sim.power_cycle(0)
    events = ok(sim.request("log", limit=64))["events"]
    starts = [e for e in events if e["type"] == "bolus_start"]
    ends = [e for e in events if e["type"] == "bolus_end"]
    assert len(starts) == 1 and len(ends) == 1
    end = ends[0]["data"]
    # counted as of the last journal (at the bolus start): none given for sure, at most 500 missed
    assert end == {"kind": "bolus", "steps": 0, "steps_missed": 500, "why": "reset"}
    reset = [e for e in events if e["type"] == "reset"][-1]["data"]
    assert reset["off_max_s"] == 1800
    # the basal over the time off (bounded by the time since the journal) plus the bolus not given
    assert reset["missed_max_nl"] == 250_000 * 1800 // 86400 + 500 * 50
    assert reset["bolus_missed_nl"] == 500 * 50
    assert _status(sim)["bolus"] is None
    pulses = sim.mock_pump.pulses
    sim.run_until_s(3600 + 1800 + 3600)
    assert sim.mock_pump.pulses - pulses <= 3600 * 5000 // 86400 + 1       # the bolus is not resumed
    sim.power_cycle(0)                                          # closed once: the next reset adds nothing
    events = ok(sim.request("log", limit=64))["events"]
    assert len([e for e in events if e["type"] == "bolus_end"]) == 1
    assert "bolus_missed_nl" not in [e for e in events if e["type"] == "reset"][-1]["data"]


def test_a_bolus_cut_short_by_a_reset_without_rtc_is_still_closed():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    ok(sim.request("prime", volume_ul=100))                     # 2000 steps at 1 mL/h: 6 min
    sim.run_until_s(3600 + 120)
    sim.power_cycle(30, rtc_lost=True)
    events = ok(sim.request("log", limit=64))["events"]
    end = [e for e in events if e["type"] == "bolus_end"][-1]["data"]
    assert end == {"kind": "prime", "steps": 0, "steps_missed": 2000, "why": "reset"}
    reset = [e for e in events if e["type"] == "reset"][-1]["data"]
    assert reset["off_max_s"] is None and "missed_max_nl" not in reset     # time off unknown
    assert reset["bolus_missed_nl"] == 2000 * 50


def test_a_bolus_that_ended_before_a_reset_is_not_closed_again():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    ok(sim.request("bolus", dose_mcg=10, duration_s=600))      # 100 steps, over by 4200 s
    sim.run_until_s(4800)                                       # before the next hourly journal (7200)
    sim.power_cycle(0)
    events = ok(sim.request("log", limit=64))["events"]
    ends = [e["data"] for e in events if e["type"] == "bolus_end"]
    assert ends == [{"kind": "bolus", "steps": 100, "steps_missed": 0, "why": "done"}]
    reset = [e for e in events if e["type"] == "reset"][-1]["data"]
    assert "bolus_missed_nl" not in reset
    assert reset["missed_max_nl"] == 250_000 * reset["off_max_s"] // 86400
