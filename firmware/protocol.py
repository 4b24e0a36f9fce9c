"""Serial protocol: one JSON object per line each way (docs/protocol.md).

Request:  {"id": 7, "cmd": "program", ...arguments}                        public commands
          {"id": 7, "cmd": "program", ..., "role": "clinician", "ctr": 42}~<64 hex MAC>   all others
Reply:    {"id": 7, "ok": true, ...results}  or  {"id": 7, "ok": false, "error": "E_...", "msg": "..."}
Notice:   {"notice": "alarm_raise", "t_s": ..., ...}   (asynchronous; never has "ok")

A line whose last 65 bytes are "~" and 64 characters is a signed frame: the MAC covers the exact
bytes before the "~" (a JSON object ends with "}", so an unsigned request never looks like one).
"role" and "ctr" are taken out of the request before the command sees it; firmware/auth.py decides
whether the request may run. A refused command changes nothing.

The code that serves a line (parse, authenticate, dispatch, errors) is firmware/serve.py, loaded on
demand: the Protocol keeps what lives between lines (the gate, the bounded logs, whether the command
being served has begun to change the pump) and what runs outside a command (housekeeping, send).
Handlers live in modules loaded on demand too, only after the frame is authenticated; a handler gets a
Control (firmware/control.py) built for its command, never the Pump. With Config.evict_handlers
(boards) the serving code, the Control and every module a command loaded leave RAM after its reply:
the heap holds the resident pump plus one command's code at a time.
"""

from micropython import const

from firmware import lazy
from firmware.auth import Auth
from firmware.errors import E_INTERNAL
from firmware.ratelog import RateLog

_LOG_WINDOW_S = const(600)   # refused demands and command errors: a few records per 10 min, then counts


class Protocol:
    def __init__(self, hw, log, timebase, store, on_fault, evict_handlers, new_control):
        self._timebase = timebase
        self.on_fault = on_fault             # the one shutdown path (reason): half a change (firmware/serve.py)
        self.new_control = new_control       # a Control for the command being served (Pump.control)
        self._evict = evict_handlers
        self.auth = Auth(hw, log, timebase, store, evict_handlers)
        self.acting = False     # the command being served has begun to change the pump (Control.begin)
        self.demand_refusals = RateLog(log, timebase, "demand_refused", _LOG_WINDOW_S, 3)
        self.errors = RateLog(log, timebase, "cmd_error", _LOG_WINDOW_S, 2)
        self._windows_open = True   # a window or lockout may be open (a lockout restored at boot):
                                    # housekeeping looks until it finds none, and again after a line

    def begin_change(self):
        """The command being served now changes the pump (Control.begin)."""
        self.acting = True

    def change_done(self):
        """The command's change is whole, or it failed and went to the shutdown path (firmware/serve.py)."""
        self.acting = False

    def housekeeping(self):
        """Called by the main loop's housekeeping: close the bounded logs' windows that are over and
        log the end of a lockout. Every window and lockout opens while a line is served, so after
        one pass found none open nothing is due until the next line: the pass returns at once."""
        if not self._windows_open:
            return
        now = self._timebase.mono_s()
        still_open = self.demand_refusals.flush(now)
        if self.errors.flush(now):
            still_open = True
        if self.auth.housekeeping(now):
            still_open = True
        self._windows_open = still_open

    def send(self, obj, serial):
        """Write one reply or notice as a line, streamed (SerialLink.write_json: a large reply never
        needs one contiguous block of heap). A reply the heap cannot hold even so is ended where it
        broke off and answered with E_INTERNAL: an answer never sends the pump to its safe state."""
        try:
            serial.write_json(obj)
        except MemoryError:
            serial.write(b"\n")
            serial.write_json({"id": obj.get("id"), "ok": False, "error": E_INTERNAL,
                               "msg": "the reply did not fit the heap: ask for less (a smaller limit)"})

    def handle(self, line):
        """One framed line in, its reply (a dict for send()) out: served by firmware/serve.py, which on
        a board (evict_handlers) leaves RAM after the reply with everything the command loaded."""
        self._windows_open = True         # serving it may open a window or a lockout (housekeeping)
        self.acting = False
        if not self._evict:
            return self._serve(line)
        keep = lazy.mark()
        lazy.serving(True)
        try:
            return self._serve(line)
        finally:
            lazy.serving(False)
            lazy.drop(keep)

    def _serve(self, line):
        try:
            serve = lazy.module("serve")
        except Exception as exc:  # noqa: BLE001 - e.g. a MemoryError: the line is not served, nothing changed
            return self.failed(None, None, exc)
        return serve.handle(self, line)

    def failed(self, req_id, cmd, exc):
        """The reply to a command that raised `exc` before it changed anything: E_INTERNAL, logged
        (bounded: "cmd_error"); delivery goes on."""
        what = repr(exc)[:160]
        try:
            self.errors.add({"error": E_INTERNAL, "cmd": cmd, "exc": what[:80]})
        except Exception:  # noqa: BLE001, S110 - the reply below matters more than its log record
            pass
        return ({"id": req_id, "ok": False, "error": E_INTERNAL,
                            "msg": "%s in '%s': nothing changed, delivery goes on" % (what, cmd)})
