"""Alarm manager and buzzer: tiers, IEC-style patterns, latching, acknowledgement, self-test."""

from helpers import DAY_S, filled_sim, ok


def _tones_between(sim, t0_ms, t1_ms):
    return [(t, f) for t, f in sim.buzzer.changes if t0_ms <= t < t1_ms and f]


def _low_alarm_sim():
    sim = filled_sim(1000, 500, 3)          # LOW_RESERVOIR (non-critical) at 12 h
    sim.run_until_s(43_200 + 120)
    return sim


def test_non_critical_pattern_three_pulses_every_30_s():
    sim = _low_alarm_sim()
    t0 = 43_200_000
    first = _tones_between(sim, t0, t0 + 30_000)
    assert [f for _, f in first] == [660, 660, 660]
    assert [t - t0 for t, _ in first] == [0, 350, 700]
    again = _tones_between(sim, t0 + 30_000, t0 + 60_000)
    assert [t - t0 for t, _ in again] == [30_000, 30_350, 30_700]


def test_critical_pattern_two_bursts_of_five_two_tone_every_10_s():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(60)
    ok(sim.request("sim.fault", fault="motor_stall"))
    sim.run_until_s(300)
    raised = [n for n in sim.notices if n["notice"] == "alarm_raise"]
    assert raised[0]["code"] == "MOTOR_STALL" and raised[0]["tier"] == "critical"
    t0 = [t for t, f in sim.buzzer.changes if f][0]
    burst = _tones_between(sim, t0, t0 + 10_000)
    assert [f for _, f in burst] == [880, 660, 880, 660, 880] * 2
    offsets = [t - t0 for t, _ in burst]
    assert offsets == [0, 200, 400, 600, 800, 1300, 1500, 1700, 1900, 2100]
    assert [t - t0 for t, _ in _tones_between(sim, t0 + 10_000, t0 + 10_001)] == [10_000]


def test_a_slow_pass_raising_an_alarm_delays_its_first_tone_but_never_stretches_a_pulse():
    """On a board the pass that raises an alarm also commits and writes the journal (code loaded from
    flash, flash writes): tens of ms. The pattern starts when that work is done, so every pulse and gap
    keeps its length (IEC 60601-1-8 timing). Here the journal write takes 150 ms of the clock."""
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(60)
    store = sim.pump.store
    real_write = store.write_journal

    def slow_write():
        real_write()
        sim.clock.advance_ms(150)             # the board's flash and module loads, as if on the clock

    store.write_journal = slow_write
    ok(sim.request("sim.fault", fault="motor_stall"))
    sim.run_until_s(300)
    changes = sim.buzzer.changes
    first_on = next(i for i, (_, f) in enumerate(changes) if f)
    times = [t for t, _ in changes[first_on:first_on + 10]]
    freqs = [f for _, f in changes[first_on:first_on + 10]]
    assert freqs == [880, 0, 660, 0, 880, 0, 660, 0, 880, 0]
    assert [b - a for a, b in zip(times, times[1:])] == [100] * 9   # 100 ms on, 100 ms off, exactly


def test_ack_silences_but_the_alarm_stays_and_comes_back():
    sim = _low_alarm_sim()
    t_ack = sim.clock.elapsed_ms
    assert ok(sim.request("ack"))["acknowledged"] == ["LOW_RESERVOIR"]
    sim.run_until_s(43_200 + 3 * 3600)
    # (a pulse due at the ack's own instant went out before the command was read)
    assert _tones_between(sim, t_ack + 1, t_ack + 3 * 3600_000 - 120_000) == []
    status = ok(sim.request("status"))
    assert [a["code"] for a in status["alarms"]] == ["LOW_RESERVOIR"] and status["alarms"][0]["silenced"]
    sim.run_until_s(43_200 + 120 + 4 * 3600 + 120)      # 4 h silence for a non-critical alarm
    assert _tones_between(sim, t_ack + 4 * 3600_000, t_ack + 4 * 3600_000 + 120_000)
    events = [e["type"] for e in ok(sim.request("log", limit=64))["events"]]
    assert "alarm_ack" in events


def test_new_alarm_sounds_through_a_silence():
    sim = _low_alarm_sim()
    ok(sim.request("ack"))
    t = sim.clock.elapsed_ms
    ok(sim.request("sim.fault", fault="battery_eos"))
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + 300)
    eos_ms = [n for n in sim.notices if n.get("code") == "BATTERY_EOS"][0]["t_s"] * 1000
    assert _tones_between(sim, t + 1, eos_ms) == []                  # still silenced until then
    first = _tones_between(sim, eos_ms, eos_ms + 1000)[0]              # within the alarm's second
    assert first[1] == 880                                              # critical pattern, at once


def test_self_test_sounds_each_pattern_once():
    sim = filled_sim(500, 2000, 20)
    t0 = sim.clock.elapsed_ms
    ok(sim.request("selftest"))
    sim.run_until_s(120)
    tones = [f for _, f in _tones_between(sim, t0, t0 + 120_000)]
    assert tones == [880, 660, 880, 660, 880] * 2 + [660, 660, 660]
    assert ok(sim.request("status"))["alarms"] == []


def test_alarm_tiers_are_the_documented_ones():
    from firmware.alarms import TIERS
    critical = {c for c, t in TIERS.items() if t == "critical"}
    assert {"EMPTY_RESERVOIR", "MOTOR_STALL", "OCCLUSION", "BATTERY_EOS", "MEMORY_ERROR",
            "OVERDELIVERY_GUARD"} <= critical
    assert {c for c, t in TIERS.items() if t == "non-critical"} == {"LOW_RESERVOIR", "BATTERY_ERI"}


def test_alarm_history_in_the_log_has_raise_ack_clear():
    sim = _low_alarm_sim()
    ok(sim.request("ack"))
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=20))
    kinds = [(e["type"], e["t_s"]) for e in ok(sim.request("log", limit=64))["events"]
             if e["type"].startswith("alarm")]
    assert [k for k, _ in kinds] == ["alarm_raise", "alarm_ack", "alarm_clear"]
    assert kinds[0][1] == 43_200 and kinds[1][1] == kinds[2][1] == 43_320
    assert DAY_S > kinds[2][1]


class _Log:
    def __init__(self):
        self.kinds = []

    def add(self, t_s, kind, data):
        self.kinds.append(kind)


class _Player:
    def __init__(self):
        self.playing = None

    def play(self, pattern, repeat_ms, now):
        self.playing = pattern

    def stop(self):
        self.playing = None


def _alarms():
    from firmware.alarms import Alarms
    from hal.mock.clock import VirtualClock
    return Alarms(_Log(), _Player(), VirtualClock())


def test_sounding_before_and_after_an_ack_and_when_the_silence_ends():
    alarms = _alarms()
    assert not alarms.sounding(1000)                         # nothing active
    alarms.raise_alarm("LOW_RESERVOIR", 1000)
    assert alarms.sounding(1000)
    alarms.ack(1100)                                          # non-critical: silenced for 4 h
    assert not alarms.sounding(1100) and not alarms.sounding(1100 + 4 * 3600 - 1)
    assert alarms.sounding(1100 + 4 * 3600)
    alarms.raise_alarm("MOTOR_STALL", 2000)                   # a new alarm sounds through the silence
    assert alarms.sounding(2000)
    alarms.ack(2100)                                          # critical: 10 min
    assert not alarms.sounding(2100 + 599) and alarms.sounding(2100 + 600)
    alarms.clear("MOTOR_STALL", 2200)
    alarms.clear("LOW_RESERVOIR", 2200)
    assert not alarms.sounding(1 << 29)


def test_entries_keep_their_meaning():
    alarms = _alarms()
    alarms.raise_alarm("BATTERY_ERI", 500)
    alarms.ack(700)
    assert alarms.active["BATTERY_ERI"] == [500, "non-critical", 700 + 4 * 3600]
    assert alarms.next_unsilence_s() == 700 + 4 * 3600
    assert alarms.summary(800) == [{"code": "BATTERY_ERI", "tier": "non-critical", "since_s": 500,
                                    "silenced": True}]
    assert alarms.raise_alarm("BATTERY_ERI", 900, tier="critical")    # worse: critical, sounds again
    assert alarms.active["BATTERY_ERI"] == [500, "critical", 0] and alarms.sounding(900)
    assert alarms._log.kinds == ["alarm_raise", "alarm_ack", "alarm_escalate"]
