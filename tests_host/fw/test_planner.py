"""Planner: step times exact to the ms against the closed form, spread evenly, no drift, wrap-proof."""

import sys

from helpers import NEAR_WRAP, small_int

from firmware.planner import MAX_INTERVAL_MS, UNITS_PER_PL, Planner, interval_ms, rate_allowed
from hal.mock.clock import VirtualClock


def _steps(planner, clock, until_ms):
    """Emit every step due up to virtual time until_ms; return their elapsed-ms times."""
    times = []
    while planner.running:
        wait = clock.ticks_diff(planner.next_ticks, clock.ticks_ms())
        if clock.elapsed_ms + wait > until_ms:
            break
        clock.advance_ms(wait)
        times.append(clock.elapsed_ms)
        planner.advance()
    clock.advance_ms(until_ms - clock.elapsed_ms)
    return times


def _ceil_div(a, b):
    return -(-a // b)


def _planner(rate, step_pl, start=NEAR_WRAP):
    clock = VirtualClock(start_ticks=start)
    planner = Planner(clock, step_pl)
    planner.set_rate(rate, clock.ticks_ms())
    return planner, clock


def test_step_times_match_closed_form():
    # step k falls at ceil(k * C / R) ms, C = step_pl * 86400 units, R units per ms
    for rate, step_pl in ((250_000, 50_000), (333_333, 47_113), (96_000, 50_000), (4_321_987, 12_345)):
        planner, clock = _planner(rate, step_pl)
        cost = step_pl * UNITS_PER_PL
        span_ms = min(2 * 86_400_000, 20_000 * cost // rate)   # ~20 000 steps at most (board-sized RAM)
        times = _steps(planner, clock, span_ms)
        assert len(times) > 100
        for k, t in enumerate(times, 1):
            assert t == _ceil_div(k * cost, rate), (rate, step_pl, k, t)


def test_whole_days_exact_to_one_step():
    for rate, step_pl, days in ((250_000, 50_000, 3), (123_457, 50_000, 3), (1_000, 48_731, 30),
                                (20_000, 50_000, 30)):
        planner, clock = _planner(rate, step_pl)
        times = _steps(planner, clock, days * 86_400_000)
        expected = rate * 1000 * days // step_pl   # floor: volume programmed / step volume
        assert len(times) == expected, (rate, step_pl, len(times), expected)


def test_steps_spread_evenly():
    planner, clock = _planner(333_333, 50_000)
    times = _steps(planner, clock, 86_400_000)
    q = interval_ms(50_000, 333_333)
    gaps = set(times[i + 1] - times[i] for i in range(len(times) - 1))
    assert gaps <= {q, q + 1}, gaps
    assert times[0] <= q + 1


def test_same_rate_reset_changes_nothing():
    a, ca = _planner(250_000, 50_000)
    ta = _steps(a, ca, 86_400_000)
    b, cb = _planner(250_000, 50_000)
    tb = _steps(b, cb, 12_345_678)
    b.set_rate(250_000, cb.ticks_ms())
    tb += _steps(b, cb, 86_400_000)
    assert ta == tb


def test_rate_change_carries_partial_step():
    r1, r2, t1 = 250_000, 100_000, 10_000_123
    planner, clock = _planner(r1, 50_000)
    times = _steps(planner, clock, t1)
    planner.set_rate(r2, clock.ticks_ms())
    times += _steps(planner, clock, 86_400_000)
    cost = 50_000 * UNITS_PER_PL
    for k, t in enumerate(times, 1):
        need = k * cost
        expect = _ceil_div(need, r1) if need <= r1 * t1 else t1 + _ceil_div(need - r1 * t1, r2)
        assert t == expect, (k, t, expect)


def test_ticks_wrap_gives_identical_steps():
    fast = 4_320_000  # one step a second
    a, ca = _planner(fast, 50_000, start=0)
    b, cb = _planner(fast, 50_000, start=NEAR_WRAP)
    ta = _steps(a, ca, 600_000)
    tb = _steps(b, cb, 600_000)
    assert cb.ticks_ms() < NEAR_WRAP  # the clock really wrapped during the run
    assert len(ta) == 600 and ta == tb


def test_stop_and_resume_keeps_progress():
    planner, clock = _planner(250_000, 50_000)
    _steps(planner, clock, 8_640)      # half of a 17.28 s interval
    planner.set_rate(0, clock.ticks_ms())
    assert not planner.running
    _steps(planner, clock, 1_000_000)  # stopped for a while: nothing
    planner.set_rate(250_000, clock.ticks_ms())
    times = _steps(planner, clock, 2_000_000)
    assert times[0] == 1_000_000 + 8_640


def test_calibration_change_keeps_fraction_of_step():
    planner, clock = _planner(250_000, 50_000)
    _steps(planner, clock, 8_640)      # half a step accrued
    planner.set_step_pl(100_000, clock.ticks_ms())
    times = _steps(planner, clock, 200_000)
    assert times[0] == 8_640 + 17_280  # half of the new 34.56 s interval remains


def test_rate_allowed_bounds():
    assert rate_allowed(50_000, 0)
    assert rate_allowed(50_000, 250_000)
    assert not rate_allowed(50_000, -1)
    assert not rate_allowed(50_000, 1)                      # one step in 50 days: too slow to plan
    assert not rate_allowed(50_000, 5_000_000_000)          # above MAX_RATE
    slowest = 50_000 * UNITS_PER_PL // (MAX_INTERVAL_MS - 1) + 1
    assert rate_allowed(50_000, slowest)
    assert not rate_allowed(50_000, slowest - 2)


def test_step_path_small_ints_and_no_allocation():
    planner, clock = _planner(333_333, 47_113)
    n = 20_000
    if sys.implementation.name == "micropython":
        import gc
        gc.collect()
        before = gc.mem_alloc()
        i = 0
        while i < n:
            planner.advance()
            i += 1
        allocated = gc.mem_alloc() - before
        assert allocated == 0, "planner.advance allocated %d bytes over %d steps" % (allocated, n)
    else:
        i = 0
        while i < n:
            planner.advance()
            i += 1
    for value in (planner._excess, planner._r, planner._q, planner.next_ticks, planner.rate_nl_day):
        assert small_int(value), value
