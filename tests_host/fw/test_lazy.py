"""Code loaded for one job and dropped after it (firmware/lazy.py), as boards with .mpy files run it:
the command handlers, the boot's recovery, the flash codec and the forecast leave RAM after their job,
and the pump answers and delivers exactly as one that keeps them loaded."""

import sys

from helpers import DAY_S, filled_sim, make_sim, ok

from firmware import lazy

_JOB_MODULES = lazy.ON_DEMAND + ("units", "params", "limits", "druglib",
                                  "authstore")    # the key record's codec: at boot, per lease, per re-key


def _forget_job_modules():
    """This test process may have imported them itself: start as a freshly booted board does."""
    lazy.drop(set(name for name in sys.modules if name[len("firmware."):] not in _JOB_MODULES))


def _loaded():
    return sorted(name for name in _JOB_MODULES if "firmware." + name in sys.modules)


_SESSION = (
    ("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 20}),
    ("program", {"mode": "continuous", "dose_mcg_day": 500}),
    ("status", {}),
    ("bolus", {"dose_mcg": 20, "duration_s": 600}),
    ("set", {"low_reservoir_ml": 3}),
    ("program", {"mode": "flex", "cycle": "day", "steps": [[0, 400], [43200, 600]]}),
    ("log", {"since": 0, "limit": 8}),
    ("keys.state", {}),
    ("ack", {}),
    ("program", {"mode": "sideways"}),                 # refused: E_MODE, nothing changes
)


def _session(sim):
    """The session's replies and the pulses of two days after it."""
    sim.mock_pump.fill(20_000_000_000)
    replies = []
    for cmd, args in _SESSION:
        replies.append(sim.request(cmd, **args))
    sim.run_until_s(2 * DAY_S)
    return replies, sim.mock_pump.pulses


def test_each_jobs_code_leaves_ram_and_the_pump_answers_alike():
    kept_replies, kept_pulses = _session(make_sim())           # a pump that keeps everything loaded
    _forget_job_modules()
    lean = make_sim(evict_handlers=1)
    assert _loaded() == []                             # the boot's recovery, codec and forecast left
    lean.mock_pump.fill(20_000_000_000)
    for (cmd, args), kept in zip(_SESSION, kept_replies):
        got = lean.request(cmd, **args)
        assert got == kept, (cmd, got, kept)
        assert _loaded() == [], (cmd, _loaded())
    assert [r["ok"] for r in kept_replies] == [True] * 9 + [False]
    assert ok(lean.request("status"))["rate_nl_day"] in (200_000, 300_000)   # 400 or 600 mcg/day at 2000 mcg/mL
    lean.run_until_s(2 * DAY_S)
    assert lean.mock_pump.pulses == kept_pulses > 0
    assert _loaded() == []                             # commits on the step path dropped the forecast too
    lean.power_cycle(60)
    assert _loaded() == []
    assert ok(lean.request("status"))["therapy"]["mode"] == "flex"


def test_a_kept_module_is_not_dropped_by_a_job():
    _forget_job_modules()
    from firmware import units  # noqa: F401  (loaded before the job: it stays)
    sim = make_sim(evict_handlers=1)
    ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20))
    assert _loaded() == ["units"]


def test_code_loads_between_collections_while_a_command_is_served_and_never_outside_one():
    """On a board that drops each job's code, a module a command loads comes onto a collected heap and
    its import's garbage is collected at once (a command's peak is its largest step); outside a
    command (a bolus ending: a commit, the forecast, the journal), nothing collects: a collection
    takes ~15 ms on the Pico and an alarm tone's edges are timed by the main loop."""
    _forget_job_modules()
    sim = filled_sim(evict_handlers=1)
    events = []
    real_collect, real_module = lazy.collect, lazy.module

    def module(name):
        loaded = ("firmware." + name) in sys.modules
        mod = real_module(name)
        if not loaded:
            events.append(("loaded", name))
        return mod
    lazy.collect = lambda: events.append(("collect", "cmd_therapy" in _loaded()))
    lazy.module = module
    try:
        ok(sim.request("bolus", dose_mcg=20, duration_s=600))
        in_command = list(events)
        del events[:]
        sim.run_until_s(sim.clock.ticks_ms() // 1000 + 900)      # the bolus ends: a commit, no command
        outside = list(events)
    finally:
        lazy.collect, lazy.module = real_collect, real_module
    # the gate's key record codec (a signed frame), then the handler's module: each import between two
    # collections (("collect", handler loaded?)); the commit's forecast likewise; the journal at the end
    # of the pass (after the reply: no command) collects nothing
    assert in_command == [("collect", False), ("collect", False), ("loaded", "authstore"),
                          ("collect", False), ("collect", True), ("loaded", "cmd_therapy"),
                          ("collect", True), ("collect", True), ("loaded", "forecast"),
                          ("loaded", "persist")], in_command
    assert ("loaded", "forecast") in outside and [e for e in outside if e[0] == "collect"] == [], outside
    assert _loaded() == []
