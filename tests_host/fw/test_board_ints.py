"""Values that must stay small ints on a board (|v| < 2**30: larger ints are heap objects on a 32-bit
MicroPython) although their natural size is larger: the wall clock set near its end, a 2 mL bridge
bolus in pL, the journal's reserve after a reset. Each test measures the heap allocated per wake-up
on MicroPython (meaningful on the 32-bit build, where it must be 0; tests_host/test_micropython.py
runs it there) and checks the arithmetic on every interpreter."""

import sys

from helpers import DAY_S, allocated_while, filled_sim, ok, refused, small_int

from firmware.errors import E_ARG_RANGE
from firmware.timebase import WALL_MAX_S

_MPY = sys.implementation.name == "micropython"


def _heap_ints(obj):
    """Names of obj's int attributes that are heap objects here (on MicroPython: an arithmetic
    result from them allocates, whatever their value; always [] on CPython). A planner's step cost
    (`_cost`, S x 86400 units) may be a long int: it is used only when a rate changes."""
    if not _MPY:
        return []
    import gc
    found = []
    for name in dir(obj):
        if name == "_cost":
            continue
        value = getattr(obj, name)
        if isinstance(value, int) and not isinstance(value, bool):
            gc.collect()
            before = gc.mem_alloc()
            value + 0
            if gc.mem_alloc() != before:
                found.append(name)
    return found


def _events(sim, kind, since=0):
    return [e for e in ok(sim.request("log", since=since, limit=64))["events"] if e["type"] == kind]


def test_the_wall_clock_is_bounded_so_its_seconds_stay_small_ints():
    # 2045-12-31 23:59:59 is the last second the host may set; 2**30 - 1 (2058) is refused
    assert WALL_MAX_S == (22 * 365 + 6) * DAY_S - 1           # 2024..2045: 22 years, 6 leap days
    # 12 years of running after it (3 leap days), plus the 2 days the guard adds to a second, stay small
    assert WALL_MAX_S + (12 * 365 + 3 + 2) * DAY_S < (1 << 30)
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", journal_interval_s=DAY_S))
    for wall in ((1 << 30) - 1, WALL_MAX_S + 1):
        refused(sim.request("set_time", wall_s=wall), E_ARG_RANGE)
    assert ok(sim.request("status"))["t_s"] < 60                 # refused: nothing changed
    set_at_s = sim.clock.elapsed_ms // 1000
    ok(sim.request("set_time", wall_s=WALL_MAX_S))
    sim.run_until_s(2 * 3600)
    steps0 = ok(sim.request("status"))["steps"]
    allocated = allocated_while(sim, 20 * 3600)                      # no journal write in the window
    status = ok(sim.request("status"))
    assert status["steps"] - steps0 == 18 * 3600 * 5000 // DAY_S     # delivery went on at its rate
    assert status["t_s"] == WALL_MAX_S + 20 * 3600 - set_at_s    # past WALL_MAX_S, as it must
    if allocated is not None:
        assert allocated == 0, "%d bytes allocated over %d wake-ups" % (allocated, status["wakeups"])
    tb = sim.pump.timebase
    for value in (tb.wall_s, tb.mono_s(), tb.jump_s):
        assert small_int(value), value
    assert _heap_ints(tb) == [] and _heap_ints(sim.pump.supervisor.guard) == []


def test_a_2_ml_bridge_is_counted_in_small_ints_to_the_step():
    # 1000 mcg/day of 1000 mcg/mL (1 mL/day) in 47.113 nL steps; refill at 2000 mcg/mL with a bridge of
    # the largest catheter volume, 2 mL = 2e9 pL: pushed at the old rate, in ceil(2e9 / 47113) steps
    sim = filled_sim(0, 1000, 20)
    ok(sim.request("set", nl_per_step=47.113, catheter_volume_ul=2000, journal_interval_s=DAY_S))
    ok(sim.request("program", mode="continuous", dose_mcg_day=1000))
    sim.run_until_s(3600)
    seq = ok(sim.request("log", limit=1))["next"]
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20, bridge=True))
    sim.mock_pump.fill(20_000_000_000)
    pulses0 = sim.mock_pump.pulses
    assert ok(sim.request("status"))["bridge_left_pl"] == 2_000_000_000
    sim.run_until_s(2 * 3600)
    allocated = allocated_while(sim, 20 * 3600)                      # the bridge runs all along
    status = ok(sim.request("status"))
    pushed = sim.mock_pump.pulses - pulses0
    assert abs(pushed - 19 * 1_000_000_000 // (24 * 47_113)) <= 1      # 19 h at 1 mL/day, still bridging
    assert status["bridge_left_pl"] == 2_000_000_000 - pushed * 47_113
    assert status["rate_nl_day"] == 1_000_000                          # the old concentration's rate
    if allocated is not None:
        assert allocated == 0, "%d bytes allocated over %d bridge steps" % (allocated, pushed)
    assert _heap_ints(sim.pump) == []
    # the end: exactly ceil(2e9 / 47113) = 42452 steps after the refill, then the new rate
    sim.run_until_s(DAY_S + 22 * 3600)
    before_end = sim.mock_pump.pulses - pulses0
    sim.mock_pump.record_steps(sim.clock)
    sim.run_until_s(2 * DAY_S + 6 * 3600)
    end = _events(sim, "bridge_end", seq)
    assert len(end) == 1, end
    end_ms = end[0]["t_s"] * 1000 + 999
    in_bridge = before_end + len([t for t in sim.mock_pump.step_times if t <= end_ms])
    assert in_bridge == (2_000_000_000 + 47_112) // 47_113 == 42_452
    status = ok(sim.request("status"))
    assert status["bridge_left_pl"] == 0 and status["rate_nl_day"] == 500_000


def test_after_a_reset_the_journal_reserve_leaves_the_counters_small():
    # the reserve (pL), beyond 2**30 pL here, is split into nL + pL at boot: every counter it reaches
    # must be left a small int object (divmod() of a long int, kept in a field, would leave a heap int
    # of small value on MicroPython, and every step's sum with it would allocate).
    # 1500 mcg/day of 1000 mcg/mL: 1.5 mL/day, journal daily; a power cut without a kept RTC: the time
    # off is unknown, the journal's whole reserve (a day at that rate, 1.5e9 pL) counts as delivered
    sim = filled_sim(0, 1000, 20)
    ok(sim.request("set", journal_interval_s=DAY_S))
    ok(sim.request("program", mode="continuous", dose_mcg_day=1500, confirm=True))
    sim.run_until_s(2 * 3600)
    sim.power_cycle(off_s=60, rtc_lost=True)
    reset = _events(sim, "reset")[-1]
    assert reset["data"]["reserve_nl"] > (1 << 30) // 1000           # a reserve beyond a small int in pL
    sim.run_until_s(3 * 3600)
    allocated = allocated_while(sim, 20 * 3600)
    if allocated is not None:
        assert allocated == 0, "%d bytes allocated after a reset" % allocated
    pump = sim.pump
    for obj in (pump.delivery.acct, pump.delivery.planner, pump.delivery.bolus.planner, pump.timebase,
                pump.supervisor.guard, pump, pump.delivery, pump.store):
        assert _heap_ints(obj) == [], (type(obj).__name__, _heap_ints(obj))
        for name in dir(obj):
            value = getattr(obj, name)
            if isinstance(value, int) and not isinstance(value, bool) and not name.startswith("_cost"):
                assert small_int(value), (type(obj).__name__, name, value)


def test_an_alarm_sounding_costs_no_allocation_per_wake_up():
    # LOW_RESERVOIR sounds every 30 s while delivery goes on: tone edges, housekeeping with an active
    # alarm (the tier to sound), steps
    sim = filled_sim(500, 2000, 3)
    ok(sim.request("set", low_reservoir_ml=4, journal_interval_s=DAY_S))
    sim.run_until_s(3600)
    assert [a["code"] for a in ok(sim.request("status"))["alarms"]] == ["LOW_RESERVOIR"]
    tones = sim.buzzer.count
    sim.buzzer.MAX_RECORD = 0            # the mock records no more changes (it only counts them): its own
    allocated = allocated_while(sim, 5 * 3600)                       # record is not the firmware's
    assert sim.buzzer.count - tones == 4 * 3600 // 30 * 6            # 3 pulses on and off every 30 s
    if allocated is not None:
        assert allocated == 0, "%d bytes allocated with an alarm sounding" % allocated
