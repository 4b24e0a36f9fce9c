"""Components that snapshot themselves (bolus, demand, therapy) and the monitors' named results."""

from helpers import raises

from firmware import monitors
from firmware import therapy as th
from firmware.bolus import BolusChannel
from firmware.demand import DemandPolicy
from hal.mock.clock import VirtualClock


def test_bolus_snapshot_is_kind_total_left_or_none():
    clock = VirtualClock()
    bolus = BolusChannel(clock, 50_000)
    assert bolus.snapshot() is None
    bolus.start("prime", 100, 1_000_000, clock.ticks_ms(), 0, 0)
    for _ in range(3):
        bolus.on_step()
    assert bolus.snapshot() == ["prime", 100, 97]
    assert bolus.stop(clock.ticks_ms()) == 97
    assert bolus.snapshot() is None


def test_demand_settings_are_the_four_limits_or_none():
    d = DemandPolicy()
    assert d.settings() is None
    d.configure(50_000, 600, 3600, 4)
    assert d.settings() == [50_000, 600, 3600, 4]
    d.disable()
    assert d.settings() is None


def test_demand_snapshot_restore_round_trip_keeps_lockout_and_24h_count():
    d = DemandPolicy()
    d.configure(50_000, 600, 3600, 3)
    for t in (1000, 5000, 9000):
        assert d.refusal(t) is None
        d.grant(t)
    assert d.snapshot() == [1000, 5000, 9000]
    other = DemandPolicy()
    other.configure(50_000, 600, 3600, 3)
    other.grant(123)                                # replaced, not added to
    other.restore(d.snapshot())
    assert other.snapshot() == [1000, 5000, 9000]
    assert other.refusal(9000 + 3599)[0] == "E_DEMAND_LOCKOUT"
    assert other.refusal(20_000)[0] == "E_DEMAND_MAX_PER_DAY"      # three in the last 24 h
    assert other.refusal(1000 + 86_400) is None                     # the first has left the window
    raises(TypeError, other.restore, [1, 2.5])
    assert other.snapshot() == [1000, 5000, 9000]


def test_demand_ring_keeps_the_newest_grants_in_order():
    d = DemandPolicy()
    for i in range(30):                             # 24 slots: the oldest 6 are gone
        d.grant(100 * i)
    other = DemandPolicy()
    other.restore(d.snapshot())
    assert other.snapshot() == [100 * i for i in range(6, 30)] and other.last_grant_s() == 2900


def _flex():
    t = th.Therapy()
    t.set_flex(7 * 86400, [0, 28_800, 86_400], [400_000, 600_000, 500_000])
    return t


def test_therapy_snapshot_round_trip_for_every_mode():
    cont = th.Therapy()
    cont.set_continuous(500_000)
    mini = th.Therapy()
    mini.set_minimum()
    cases = ((th.Therapy(), ["stopped", 0, 86400, [], []]),
             (cont, ["continuous", 500_000, 86400, [], []]),
             (_flex(), ["flex", 0, 604_800, [0, 28_800, 86_400], [400_000, 600_000, 500_000]]),
             (mini, ["minimum", 0, 86400, [], []]))
    for t, snap in cases:
        assert t.snapshot() == snap
        back = th.from_snapshot(t.snapshot())
        assert back.snapshot() == snap and back.describe() == t.describe()
    back = th.from_snapshot(_flex().snapshot())
    # Tuesday 09:00 is in the cycle's third step (from day 1 00:00): 500 mcg/day
    assert back.dose_at(86_400 + 9 * 3600) == 500_000 and back.next_change_s(86_400 + 9 * 3600) == 604_800


def test_therapy_from_snapshot_refuses_unknown_modes_and_malformed_schedules():
    flex = _flex().snapshot()
    for bad in (["bolus", 0, 86400, [], []],
                [None, 0, 86400, [], []],
                ["continuous", 1.5, 86400, [], []],
                ["continuous", -1, 86400, [], []],
                ["continuous", True, 86400, [], []],
                ["flex", 0, 3600, [0], [1]],                           # not a day or a week
                ["flex", 0, 86400.0, [0], [1]],
                ["flex", 0, 86400, [], []],                            # no step
                ["flex", 0, 86400, [0, 100], [1]],                     # a start without a dose
                ["flex", 0, 86400, [100, 100], [1, 2]],                # starts must increase
                ["flex", 0, 86400, [0, 86400], [1, 2]],                # within the cycle
                ["flex", 0, 86400, [0], [0.5]],
                ["flex", 0, 86400, list(range(25)), [1] * 25]):        # at most 24 steps
        raises(ValueError, th.from_snapshot, bad)
    raises(ValueError, th.from_snapshot, flex[:4])
    raises(TypeError, th.from_snapshot, None)
    raises(TypeError, th.from_snapshot, ["flex", 0, 86400, None, None])


class _Sensor:
    def __init__(self, mv):
        self.mv = mv

    def read_mv(self):
        return self.mv


def test_monitor_results_are_named_constants():
    assert (monitors.LINE_OK, monitors.LINE_OCCLUSION, monitors.LINE_DISCONNECT) == (0, 1, 2)
    assert (monitors.BATTERY_OK, monitors.BATTERY_ERI, monitors.BATTERY_EOS) == (0, 1, 2)
    pressure = _Sensor(500)
    line = monitors.LineMonitor(pressure, 700, 15)
    pressure.mv = 720                               # held high for 3 steps: occlusion
    assert [line.on_step() for _ in range(3)] == [monitors.LINE_OK] * 2 + [monitors.LINE_OCCLUSION]
    line.reset()
    pressure.mv = 505                               # a rise of 5 mV (< 15) for 8 steps: disconnection
    assert [line.on_step() for _ in range(8)] == [monitors.LINE_OK] * 7 + [monitors.LINE_DISCONNECT]
    assert monitors.LineMonitor(None, 700, 15).on_step() == monitors.LINE_OK
    adc = _Sensor(3300)
    battery = monitors.BatteryMonitor(adc, 3000, 2800, 100)
    seen = []
    for mv in (2950, 2950, 2950, 2700, 2700, 2700, 2950, 3050, 3150):
        adc.mv = mv
        seen.append(battery.read(0))
    ok_, eri, eos = monitors.BATTERY_OK, monitors.BATTERY_ERI, monitors.BATTERY_EOS
    # 3 readings below a threshold raise it; back above EOS + 100 mV is ERI, above ERI + 100 mV ok
    assert seen == [ok_, ok_, eri, eri, eri, eos, eri, eri, ok_]
