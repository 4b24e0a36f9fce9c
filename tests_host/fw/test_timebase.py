"""Wall time derived from ticks across the wrap."""

from helpers import NEAR_WRAP, raises

from firmware.timebase import Timebase
from hal.mock.clock import VirtualClock


def test_wall_seconds_follow_ticks_across_wrap():
    clock = VirtualClock(start_ticks=NEAR_WRAP)
    tb = Timebase(clock, 1000, clock.ticks_ms())
    for _ in range(250):
        clock.advance_ms(997)
        tb.update(clock.ticks_ms())
    assert tb.wall_s == 1000 + 249_250 // 1000
    assert tb.sub_ms == 249_250 % 1000


def test_ticks_at_is_exact_and_bounded():
    clock = VirtualClock(start_ticks=NEAR_WRAP)
    tb = Timebase(clock, 0, clock.ticks_ms())
    clock.advance_ms(1500)
    tb.update(clock.ticks_ms())
    target = tb.ticks_at(10, 60_000)
    assert clock.ticks_diff(target, clock.ticks_ms()) == 8500
    far = tb.ticks_at(10_000_000, 60_000)
    assert clock.ticks_diff(far, clock.ticks_ms()) == 60_000


def test_snapshot_restore_keeps_monotonic_time_across_a_reset():
    clock = VirtualClock(start_ticks=NEAR_WRAP)
    tb = Timebase(clock, 100_000, clock.ticks_ms())
    assert tb.set_wall(103_600) == 3600          # the host moves the clock 1 h on, then 10 min back
    assert tb.set_wall(103_000) == -600
    assert tb.snapshot() == 3000 and tb.mono_s() == 100_000
    clock.advance_ms(5000)
    tb.update(clock.ticks_ms())
    after = Timebase(clock, tb.wall_s, clock.ticks_ms())     # a reset: the wall clock kept, jumps lost
    assert after.mono_s() == 103_005
    after.restore(tb.snapshot())
    assert after.mono_s() == tb.mono_s() == 100_005 and after.snapshot() == 3000
    raises(TypeError, after.restore, 1.5)
    assert after.snapshot() == 3000
