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


def _watch(sim, events, held):
    """Record in `events`, in order, what weighs on a board's heap during the passes that follow:
    ("collect",) for each collection the firmware makes (lazy.collect), ("loaded", name) for each
    firmware module that came into RAM since the previous event, ("write", file) for each flash write
    ("ev" for an event log slot) and ("sent",) for each line sent; in `held`, the job modules in RAM
    at each collection. Returns the function that undoes it."""
    real_collect, real_module = lazy.collect, lazy.module
    storage = sim.pump.hw.storage
    serial = sim.pump.hw.serial
    write, write_json = storage.write, serial.write_json
    seen = [set(name for name in sys.modules if name.startswith("firmware."))]

    def loads():
        now = set(name for name in sys.modules if name.startswith("firmware."))
        events.extend(("loaded", name[len("firmware."):]) for name in sorted(now - seen[0]))
        seen[0] = now

    def collect():
        loads()
        events.append(("collect",))
        held.append(_loaded())
        real_collect()

    def watched_write(name, data):
        loads()
        events.append(("write", "ev" if name.startswith("ev") else name))
        return write(name, data)

    def watched_write_json(obj):
        loads()
        events.append(("sent",))
        return write_json(obj)

    def module(name):
        mod = real_module(name)
        loads()                          # a module loaded and dropped between two events is seen too
        return mod

    def undo():
        lazy.collect, lazy.module = real_collect, real_module
        storage.write, serial.write_json = write, write_json
    lazy.collect, lazy.module = collect, module
    storage.write, serial.write_json = watched_write, watched_write_json
    return undo


def _load(*names):
    """The events of lazy.module(name) for each name: a collection before and after each import."""
    return [e for name in names for e in (("collect",), ("loaded", name), ("collect",))]


# a therapy handler's module loaded with its helpers (its imports), between two collections
_THERAPY = [("collect",)] + [("loaded", name) for name in ("cmd_therapy", "druglib", "limits", "params", "units")] + [
    ("collect",)]


def test_code_loads_between_collections_while_a_command_is_served_and_never_outside_one():
    """On a board that drops each job's code, a module a command loads comes onto a collected heap and its
    import's garbage is collected at once (a handler's module with its helpers); the settings written, the
    heap is collected (the codec dropped, the record and its file object freed), and again once the reply is
    sent (the line's code, dropped, and its garbage go before the journal): a command's peak is its largest
    step, not the sum of its steps. Outside a command (the journal after it, a bolus ending: a commit, the
    forecast, the journal), nothing collects: a collection takes ~15 ms on the Pico and an alarm tone's
    edges are timed by the main loop. A pump that keeps its code (the simulator, a frozen or .py deploy)
    never collects."""
    _forget_job_modules()
    sim = filled_sim(evict_handlers=1)
    events, held = [], []
    undo = _watch(sim, events, held)
    try:
        ok(sim.request("program", mode="continuous", dose_mcg_day=400))
        command = list(events)
        del events[:]
        ok(sim.request("bolus", dose_mcg=20, duration_s=600))
        bolus = list(events)
        del events[:]
        sim.run_until_s(sim.clock.ticks_ms() // 1000 + 900)      # the bolus ends: a commit, no command
        outside = list(events)
    finally:
        undo()
    # the serving code; the gate (firmware/gate.py: every line); the handler's module with its helpers;
    # the Control
    assert command[:16] == _load("serve", "gate") + _THERAPY + _load("control"), command
    # the settings written with the codec, then a collection (B); the event record; the forecast; the
    # reply sent, then a collection (A); the journal at the end of the pass, after the command: no collection
    assert command[16:] == (_load("persist") + [("write", "settings.new"), ("collect",), ("write", "ev")]
                            + _load("forecast") + [("sent",), ("collect",),
                                                   ("loaded", "persist"), ("write", "journal.new")]), command
    assert held[-2] == ["cmd_therapy", "control", "druglib", "forecast", "limits", "params", "serve", "units"]
    assert held[-1] == []                                    # A: the line's code left RAM before it
    b = command.index(("write", "settings.new")) + 1
    assert command[b] == ("collect",) and "persist" not in held[command[:b].count(("collect",))], held
    # a bolus: no settings written (its grant is in the journal)
    assert bolus == (_load("serve", "gate") + _THERAPY + _load("control") + [("write", "ev")] + _load("forecast")
                     + [("sent",), ("collect",), ("loaded", "persist"), ("write", "journal.new")]), bolus
    assert ("loaded", "forecast") in outside and ("collect",) not in outside, outside
    assert _loaded() == []
    kept = filled_sim()
    undo = _watch(kept, events, held)
    del events[:]
    try:
        ok(kept.request("program", mode="continuous", dose_mcg_day=400))
        ok(kept.request("status"))
    finally:
        undo()
    assert ("write", "settings.new") in events and ("sent",) in events and ("collect",) not in events, events


def test_the_added_collections_of_a_command_are_counted():
    """What the collections of a command cost (about 15 ms each on the Pico): per command, on a board
    that drops its code. A public read (status): the serving code, the gate, the handler's module, the
    Control (2 each) and one after the reply; a `program`: the same, and the codec (2) and one after
    the settings write, the forecast (2)."""
    _forget_job_modules()
    sim = filled_sim(evict_handlers=1)
    events, held = [], []
    undo = _watch(sim, events, held)
    counts = {}
    try:
        for cmd, args in (("status", {}), ("program", {"mode": "continuous", "dose_mcg_day": 400}),
                          ("set", {"low_reservoir_ml": 3}), ("bolus", {"dose_mcg": 20, "duration_s": 600}),
                          ("program", {"mode": "sideways"})):
            del events[:]
            sim.request(cmd, **args)
            counts[cmd + ("" if cmd != "program" or "dose_mcg_day" in args else " refused")] = \
                events.count(("collect",))
    finally:
        undo()
    assert counts == {"status": 2 + 2 + 2 + 2 + 1, "program": 2 + 2 + 2 + 2 + 3 + 2 + 1,
                      "set": 2 + 2 + 2 + 2 + 3 + 2 + 1, "bolus": 2 + 2 + 2 + 2 + 2 + 1,
                      "program refused": 2 + 2 + 2 + 2 + 1}, counts


# --- the serving of a line and the Control: in RAM only while a line is served (issue 15 item 5) ----------

_SERVING = ("serve", "control")
_LINES = (                                    # (how it is sent, command or raw bytes, arguments)
    ("request", "keys.state", {}),                                               # public
    ("request", "refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 20}),   # signed
    ("request", "program", {"mode": "continuous", "dose_mcg_day": 500}),         # signed
    ("request", "status", {}),                                                   # public
    ("request", "program", {"mode": "sideways"}),      # signed, refused by its handler: E_MODE
    ("raw", b'{"id": 5, "cmd": \n', None),             # refused before any handler: E_JSON
    ("unsigned", "program", {"mode": "stopped"}),      # refused at the gate: E_AUTH_REQUIRED
)


def _serving_loaded():
    return [name for name in _SERVING if "firmware." + name in sys.modules]


def _send(sim, line):
    how, cmd, args = line
    if how == "raw":
        return sim.request_raw(cmd)
    if how == "unsigned":
        return sim.request_as(None, cmd, **args)
    return sim.request(cmd, **args)


def test_a_board_holds_the_serving_code_and_the_control_only_while_a_line_is_served():
    """Between commands a board's pump (evict_handlers) holds neither the code that serves a line
    (firmware/serve.py) nor the Control's (firmware/control.py): each line loads the serving code, a
    command that reaches its handler gets a Control built for it, and both leave RAM with the reply.
    The replies are those of a simulator's pump, which keeps both loaded."""
    kept = make_sim()
    kept_replies = [_send(kept, line) for line in _LINES]
    assert _serving_loaded() == ["serve", "control"]          # the simulator's configuration keeps them
    _forget_job_modules()
    lean = make_sim(evict_handlers=1)
    assert _serving_loaded() == []                             # after boot: neither is in RAM
    during = []
    build = lean.pump.protocol.new_control

    def new_control():                        # the Control a handler gets: what is loaded when it is built
        ctl = build()
        during.append(_serving_loaded())
        return ctl
    lean.pump.protocol.new_control = new_control
    replies = []
    for line, kept_reply in zip(_LINES, kept_replies):
        del during[:]
        replies.append(_send(lean, line))
        assert replies[-1] == kept_reply, (line, replies[-1], kept_reply)
        assert during == ([["serve", "control"]] if line[0] == "request" else []), (line, during)
        assert _serving_loaded() == [], line
    # the replies, from first principles: 20 mL = 2e10 pL; 500 mcg/day at 2000 mcg/mL = 0.25 mL/day
    # = 250 000 nL/day; the refill is due when 18 mL (20 mL less the 2 mL low mark) are gone: 72 days
    assert replies[0]["ok"] and replies[0]["roles"]["clinician"] == {"key": True, "ctr": 0}
    assert ok(replies[1])["reservoir_pl"] == 20_000_000_000
    assert ok(replies[2])["rate_nl_day"] == 250_000 and replies[2]["refill_due_s"] == 72 * DAY_S
    assert ok(replies[3])["rate_nl_day"] == 250_000 and replies[3]["therapy"]["dose_ng_day"] == 500_000
    assert [r["error"] for r in replies[4:]] == ["E_MODE", "E_JSON", "E_AUTH_REQUIRED"]
    assert replies[5]["id"] is None
    assert lean.pump.protocol.auth.last_ctr("clinician") == 3       # three signed frames ran
    lazy.preload()                                # a frozen or .py deploy loads them once and keeps them
    assert _serving_loaded() == ["serve", "control"]


def _program_with_a_module_failing(sim, failing):
    """A signed `program` while firmware.<failing> cannot load (a MemoryError, as on a short heap)."""
    real_module = lazy.module

    def module(name):
        if name == failing:
            raise MemoryError("memory allocation failed")
        return real_module(name)
    lazy.module = module
    try:
        return sim.request("program", mode="continuous", dose_mcg_day=400)
    finally:
        lazy.module = real_module


def test_a_line_whose_serving_code_cannot_load_is_answered_and_changes_nothing():
    """A board short of heap for the serving code: the line is answered E_INTERNAL, nothing changes
    (the frame is not even authenticated: its counter is not used up) and delivery goes on."""
    _forget_job_modules()
    sim = filled_sim(evict_handlers=1)
    last_ctr = sim.pump.protocol.auth.last_ctr("clinician")
    steps0 = ok(sim.request("status"))["steps"]
    reply = _program_with_a_module_failing(sim, "serve")
    assert reply["id"] is None and reply["ok"] is False and reply["error"] == "E_INTERNAL", reply
    assert "MemoryError" in reply["msg"] and "nothing changed, delivery goes on" in reply["msg"], reply
    assert _loaded() == []
    assert sim.pump.protocol.auth.last_ctr("clinician") == last_ctr
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + 3600)
    st = ok(sim.request("status"))
    assert not st["safe_state"] and st["stopped_by"] == [] and st["steps"] > steps0
    assert st["therapy"]["dose_ng_day"] == 500_000                   # filled_sim's programme, unchanged


# --- the Auth's gate and key record: in RAM only for their job (issue 15 item 5) -----------------------

_GATE = ("gate", "authstore")                 # the gate of every line; the key record's code


def _gate_loaded():
    return [name for name in _GATE if "firmware." + name in sys.modules]


def test_a_board_holds_the_gate_only_while_a_line_is_served():
    """Between commands a board's pump (evict_handlers) keeps the Auth's state (keys, counters, the
    failure window), not its code: every line loads the gate (firmware/gate.py), a signed frame above
    its counter's reservation the key record's code too (a new lease on flash), and both leave RAM
    with the reply. The replies, counters and failures are those of a simulator's pump, which keeps
    its code loaded."""
    lines = (("status", {}),                                                     # public
             ("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 20}),   # ctr 1: a lease
             ("program", {"mode": "continuous", "dose_mcg_day": 500}),          # ctr 2: leased already
             (None, {}))                                                         # unsigned: E_AUTH_REQUIRED

    def send(sim, line):
        if line[0] is None:
            return sim.request_as(None, "program", mode="stopped")
        return sim.request(line[0], **line[1])
    kept = make_sim()
    kept_replies = [send(kept, line) for line in lines]
    _forget_job_modules()
    lean = make_sim(evict_handlers=1)
    assert _gate_loaded() == []                    # after boot (the key record was read): neither
    loads = []
    real_module = lazy.module

    def module(name):
        if name in _GATE and "firmware." + name not in sys.modules:
            loads.append(name)
        return real_module(name)
    lazy.module = module
    try:
        for line, kept_reply in zip(lines, kept_replies):
            del loads[:]
            reply = send(lean, line)
            assert reply == kept_reply, (line, reply, kept_reply)
            assert loads == (["gate", "authstore"] if line[0] == "refill" else ["gate"]), (line, loads)
            assert _gate_loaded() == [], line
    finally:
        lazy.module = real_module
    assert [r["ok"] for r in kept_replies] == [True, True, True, False]
    assert kept_replies[3]["error"] == "E_AUTH_REQUIRED"
    auth, kept_auth = lean.pump.protocol.auth, kept.pump.protocol.auth
    assert list(auth.ctr) == list(kept_auth.ctr) == [2, 0, 0]     # two signed frames of the clinician
    assert auth.failures == kept_auth.failures == 1               # the unsigned one
    assert lean.flash.files["auth"] == kept.flash.files["auth"]   # the same lease on flash


def test_a_signed_line_whose_gate_cannot_load_is_refused_and_changes_nothing():
    """A board short of heap for the gate: the signed line is answered E_INTERNAL and changes nothing
    (its counter is not used up, no failure is counted, the key record is not written) and delivery
    goes on; the same frame's counter then runs."""
    _forget_job_modules()
    sim = filled_sim(evict_handlers=1)
    auth = sim.pump.protocol.auth
    last_ctr = auth.last_ctr("clinician")
    key_record = sim.flash.files["auth"]
    state0 = ok(sim.request("keys.state"))
    steps0 = ok(sim.request("status"))["steps"]
    reply = _program_with_a_module_failing(sim, "gate")
    assert reply["ok"] is False and reply["error"] == "E_INTERNAL", reply
    assert "MemoryError" in reply["msg"] and "nothing changed, delivery goes on" in reply["msg"], reply
    assert _loaded() == [] and _gate_loaded() == []
    assert auth.last_ctr("clinician") == last_ctr and auth.failures == 0
    assert sim.flash.files["auth"] == key_record
    state = ok(sim.request("keys.state"))
    del state["id"], state0["id"]
    assert state == state0
    sim.run_until_s(sim.clock.elapsed_ms // 1000 + 3600)
    st = ok(sim.request("status"))
    assert not st["safe_state"] and st["stopped_by"] == [] and st["steps"] > steps0
    assert st["therapy"]["dose_ng_day"] == 500_000                   # filled_sim's programme, unchanged
    ok(sim.request("program", mode="continuous", dose_mcg_day=400))   # the counter last_ctr + 1 again
    assert auth.last_ctr("clinician") == last_ctr + 1
    assert ok(sim.request("status"))["therapy"]["dose_ng_day"] == 400_000
