"""Shared helpers for the firmware tests. Plain Python that runs on CPython and MicroPython alike."""

from boards.sim.board import Simulation

NEAR_WRAP = (1 << 30) - 60_000   # ticks_ms wraps at 2**30 on a board: tests start one minute before the wrap
DAY_S = 86400


def make_sim(start_ticks=NEAR_WRAP, **kw):
    return Simulation(start_ticks=start_ticks, **kw)


def filled_sim(dose_mcg_day=500, conc=2000, volume_ml=20, start_ticks=NEAR_WRAP, **kw):
    sim = make_sim(start_ticks=start_ticks, **kw)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=conc, volume_ml=volume_ml))
    sim.mock_pump.fill(volume_ml * 1_000_000_000)
    if dose_mcg_day:
        ok(sim.request("program", mode="continuous", dose_mcg_day=dose_mcg_day))
    return sim


def ok(reply):
    assert reply is not None, "no reply"
    assert reply["ok"] is True, "refused: %r" % (reply,)
    return reply


def refused(reply, code):
    assert reply is not None, "no reply"
    assert reply["ok"] is False, "accepted but should be refused: %r" % (reply,)
    assert reply["error"] == code, "error %s, expected %s (%s)" % (reply["error"], code, reply.get("msg"))
    return reply


def log_pages(sim):
    """The whole event log, read page by page as a host does: the last reply with every event."""
    events = []
    since = 0
    while True:
        reply = ok(sim.request("log", since=since, limit=64))
        events.extend(reply["events"])
        if len(reply["events"]) < 64:
            return {"events": events, "next": reply["next"], "dropped": reply["dropped"]}
        since = reply["events"][-1]["seq"] + 1


def raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised" % exc_type.__name__)


def small_int(value):
    """True if value fits a board's small int (|v| < 2**30) — counters must, or they allocate."""
    return -(1 << 30) < value < (1 << 30)


def allocated_while(sim, until_s):
    """Bytes allocated while the main loop runs to until_s (MicroPython), None on CPython."""
    import sys
    sim.clock.horizon_ms = until_s * 1000
    if sys.implementation.name != "micropython":
        sim.run_to_horizon()
        return None
    import gc
    gc.collect()
    before = gc.mem_alloc()
    sim.run_to_horizon()
    return gc.mem_alloc() - before
