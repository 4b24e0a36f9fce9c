"""The step path in steady state: no heap allocation per step, every long-lived counter a small int."""


from helpers import DAY_S, allocated_while, filled_sim, ok, small_int


def test_no_allocation_per_step_continuous():
    # the journal (hourly by default) allocates when it writes: that is housekeeping, not the step
    # path, so this window is chosen between two journal writes
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", journal_interval_s=86400))
    sim.run_until_s(6 * 3600)                            # warm up
    steps0 = ok(sim.request("status"))["steps"]
    allocated = allocated_while(sim, 22 * 3600)          # the next journal write is due at 24 h
    steps = ok(sim.request("status"))["steps"] - steps0
    assert steps == 16 * 3600 * 5000 // 86400
    if allocated is not None:
        assert allocated == 0, "%d bytes allocated over %d steps" % (allocated, steps)


def test_no_allocation_per_step_with_bolus_and_basal():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("set", journal_interval_s=86400))
    sim.run_until_s(600)
    ok(sim.request("bolus", dose_mcg=100, duration_s=4 * 3600))
    sim.run_until_s(1200)
    allocated = allocated_while(sim, 3 * 3600)          # both planners stepping, bolus not yet done
    assert ok(sim.request("status"))["bolus"]["steps_left"] > 0
    if allocated is not None:
        assert allocated == 0, allocated


def test_long_lived_counters_stay_small_after_years():
    sim = filled_sim(0, 500, 20)
    ok(sim.request("set", reservoir_capacity_ml=40, nl_per_step=10_000,   # 10 uL steps: a short loop
                   nominal_nl_per_step=10_000))                            # (a 10 uL pump head, on the bench)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=40))
    ok(sim.request("program", mode="continuous", dose_mcg_day=1000))   # 2 mL/day: 1.1 L over 1.5 years
    for k in range(1, 31):
        sim.run_until_s(k * 18 * DAY_S)
        ok(sim.request("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=40))
    status = ok(sim.request("status"))
    assert status["delivered_pl"] > (1 << 30) * 1000     # the total itself is large ...
    pump = sim.pump
    objs = (pump.delivery.acct, pump.delivery.planner, pump.delivery.bolus.planner, pump.timebase, pump.log, pump,
            pump.delivery, pump.store)
    for obj in objs:                                     # ... but no stored int is
        for name in dir(obj):
            value = getattr(obj, name)
            if isinstance(value, int) and not isinstance(value, bool) and not name.startswith("_cost"):
                assert small_int(value), (type(obj).__name__, name, value)
