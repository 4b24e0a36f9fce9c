"""Wake-up budget: the main loop wakes at most 1.05 times the minimum it needs, the minimum being
one wake-up per step, per tone edge and per housekeeping pass, each counted separately (a wake-up
that serves two of them is a saving). Counts, not timings: exact on every machine."""

from helpers import DAY_S, filled_sim, ok

BUDGET_NUM, BUDGET_DEN = 105, 100      # 1.05


def _counts(sim):
    pump = sim.pump
    return pump.wakeups, sim.mock_pump.pulses, sim.buzzer.count, pump.housekeeping_runs


def _measure(sim, days):
    w0, s0, t0, h0 = _counts(sim)
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + days * DAY_S)
    w1, s1, t1, h1 = _counts(sim)
    return w1 - w0, s1 - s0, t1 - t0, h1 - h0


def test_wakeups_at_the_typical_rate_are_the_steps():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    wakes, steps, tones, house = _measure(sim, 3)
    assert steps == 3 * 5000 and tones == 0
    assert house == 3 * 1440                     # housekeeping every 60 s, riding on the steps
    assert wakes * BUDGET_DEN <= (steps + tones + house) * BUDGET_NUM
    assert wakes <= steps + 3                    # a step every 17.28 s: no housekeeping of its own


def test_wakeups_at_the_minimum_rate():
    sim = filled_sim(0, 2000, 20)
    ok(sim.request("program", mode="minimum"))   # 48 uL/day: a step every 90 s
    sim.run_until_s(3600)
    wakes, steps, tones, house = _measure(sim, 3)
    assert steps == 3 * 960 and house == 3 * 1440
    assert wakes * BUDGET_DEN <= (steps + tones + house) * BUDGET_NUM
    assert wakes <= house + 3                    # every step shares a housekeeping wake-up


def test_wakeups_with_a_critical_alarm_sounding():
    sim = filled_sim(500, 2000, 20)
    sim.run_until_s(3600)
    ok(sim.request("sim.fault", fault="occlusion"))
    sim.run_until_s(2 * 3600)                    # OCCLUSION raised: critical pattern every 10 s
    wakes, steps, tones, house = _measure(sim, 1)
    assert tones == 20 * 8640                    # 20 edges per 10 s cycle (two bursts of 5 pulses)
    assert wakes * BUDGET_DEN <= (steps + tones + house) * BUDGET_NUM
    assert wakes <= tones + 3                    # the pattern's end and housekeeping ride on edges
