"""Serial protocol: one JSON object per line each way (docs/protocol.md).

Request:  {"id": 7, "cmd": "program", ...arguments}                        public commands
          {"id": 7, "cmd": "program", ..., "role": "clinician", "ctr": 42}~<64 hex MAC>   all others
Reply:    {"id": 7, "ok": true, ...results}  or  {"id": 7, "ok": false, "error": "E_...", "msg": "..."}
Notice:   {"notice": "alarm_raise", "t_s": ..., ...}   (asynchronous; never has "ok")

A line whose last 65 bytes are "~" and 64 characters is a signed frame: the MAC covers the exact
bytes before the "~" (a JSON object ends with "}", so an unsigned request never looks like one).
"role" and "ctr" are taken out of the request before the command sees it; firmware/auth.py decides
whether the request may run. A refused command changes nothing.

An unexpected exception is answered with E_INTERNAL. While a request is parsed, authenticated or
validated, or in a read-only command, nothing has changed: the reply says so and delivery goes on (the
error is logged, bounded: "cmd_error"). Once a command has begun to change the pump (Control.begin(),
called where its checks end), an exception leaves half a change: a fault of the pump, which goes to
its safe state through the one shutdown path. The safe state is for faults of the delivery path, never
for a bad request.

Handlers live in modules loaded on demand (_HANDLERS: command -> module, function), only after the
frame is authenticated; a handler gets the Control (firmware/control.py), never the Pump. With
Config.evict_handlers (boards) every module a command loaded leaves RAM after its reply: the heap holds
the resident pump plus one command's code at a time.
"""

import json

from micropython import const

from firmware import lazy
from firmware.auth import Auth
from firmware.errors import (
    E_ARG_TYPE,
    E_ENCODING,
    E_FRAME_TOO_LONG,
    E_INTERNAL,
    E_JSON,
    E_UNKNOWN_CMD,
    CommandError,
)
from firmware.framing import BAD_TEXT, MAX_LINE, TOO_LONG
from firmware.ratelog import RateLog

MAC_HEX = const(64)
_SEP = const(0x7E)   # "~"
_LOG_WINDOW_S = const(600)   # refused demands and command errors: a few records per 10 min, then counts


_BENCH = ("commands", "bench")          # every "sim.*" command: the board's bench
_HANDLERS = {
    "info": ("commands", "info"),
    "status": ("commands", "status"),
    "ack": ("commands", "ack"),
    "set_time": ("commands", "set_time"),
    "selftest": ("commands", "selftest"),
    "log": ("cmd_log", "log"),
    "program": ("cmd_therapy", "program"),
    "bolus": ("cmd_therapy", "bolus"),
    "prime": ("cmd_therapy", "prime"),
    "demand": ("cmd_therapy", "demand"),
    "calibrate": ("cmd_therapy", "calibrate"),
    "refill": ("cmd_setup", "refill"),
    "set": ("cmd_setup", "set_config"),
    "keys.state": ("cmd_keys", "state"),
    "keys.provision": ("cmd_keys", "provision"),
}


def handler_entry(cmd):
    """(module, function) of the command's handler, or None for an unknown command."""
    if cmd.startswith("sim."):
        return _BENCH
    return _HANDLERS.get(cmd)


def load_handler(entry):
    """The handler function of a (module, function) entry, importing its module if needed."""
    return getattr(lazy.module(entry[0]), entry[1])


def split_frame(line):
    """(body bytes, MAC as 64 bytes or None)."""
    n = len(line)
    if n > MAC_HEX and line[n - MAC_HEX - 1] == _SEP:
        return line[:n - MAC_HEX - 1], line[n - MAC_HEX:]
    return line, None


class Protocol:
    def __init__(self, hw, log, timebase, store, on_fault, evict_handlers):
        self._timebase = timebase
        self._on_fault = on_fault            # the one shutdown path (reason)
        self._evict = evict_handlers
        self.auth = Auth(hw, log, timebase, store, evict_handlers)
        self.control = None                  # the handlers' Control: set by the Pump
        self.acting = False     # the command being served has begun to change the pump (Control.begin)
        self.demand_refusals = RateLog(log, timebase, "demand_refused", _LOG_WINDOW_S, 3)
        self._errors = RateLog(log, timebase, "cmd_error", _LOG_WINDOW_S, 2)
        self._windows_open = True   # a window or lockout may be open (a lockout restored at boot):
                                    # housekeeping looks until it finds none, and again after a line

    def begin_change(self):
        """The command being served now changes the pump (Control.begin)."""
        self.acting = True

    def housekeeping(self):
        """Called by the main loop's housekeeping: close the bounded logs' windows that are over and
        log the end of a lockout. Every window and lockout opens while a line is served, so after
        one pass found none open nothing is due until the next line: the pass returns at once."""
        if not self._windows_open:
            return
        now = self._timebase.mono_s()
        still_open = self.demand_refusals.flush(now)
        if self._errors.flush(now):
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
        """One framed line in, its reply (a dict for send()) out."""
        self._windows_open = True         # serving it may open a window or a lockout (housekeeping)
        if not self._evict:
            return self._handle(line)
        keep = lazy.mark()
        lazy.serving(True)
        try:
            return self._handle(line)
        finally:
            lazy.serving(False)
            lazy.drop(keep)

    def _handle(self, line):
        req_id = None
        cmd = None
        self.acting = False
        try:
            if line == TOO_LONG:
                raise CommandError(E_FRAME_TOO_LONG, "line longer than %d bytes discarded" % MAX_LINE)
            if line == BAD_TEXT:
                raise CommandError(E_ENCODING, "request is not valid UTF-8 (overlong, surrogate or cut "
                                               "sequence, or an escaped surrogate)")
            body, mac = split_frame(line)
            try:
                text = body.decode("utf-8")
            except (UnicodeError, ValueError):
                raise CommandError(E_ENCODING, "request is not UTF-8")
            try:
                req = json.loads(text)
            except (ValueError, TypeError, RuntimeError, MemoryError):   # RuntimeError: nesting too deep
                raise CommandError(E_JSON, "request is not valid JSON")
            if not isinstance(req, dict):
                raise CommandError(E_JSON, "request must be a JSON object")
            req_id = req.get("id")
            if req_id is not None and not (isinstance(req_id, (int, str)) and not isinstance(req_id, bool)):
                req_id = None
                raise CommandError(E_ARG_TYPE, "'id' must be an integer or a text")
            cmd = req.get("cmd")
            if not isinstance(cmd, str):
                cmd = None
                raise CommandError(E_UNKNOWN_CMD, "missing 'cmd'")
            entry = handler_entry(cmd)
            if entry is None:
                raise CommandError(E_UNKNOWN_CMD, "unknown command '%s'" % cmd[:40])
            role = req.pop("role", None)
            ctr = req.pop("ctr", None)
            self.auth.check(cmd, req, role, ctr, body, mac)
            result = load_handler(entry)(self.control, req)
            self.acting = False          # done: the change is whole
            reply = {"id": req_id, "ok": True}
            if result:
                reply.update(result)
            return reply
        except CommandError as err:
            return {"id": req_id, "ok": False, "error": err.code, "msg": err.msg}
        except Exception as exc:  # noqa: BLE001 - unexpected: a failed command, or a fault (see above)
            return self._internal(req_id, cmd, exc)

    def _internal(self, req_id, cmd, exc):
        what = repr(exc)[:160]
        name = cmd[:24] if cmd is not None else None
        if self.acting:
            self.acting = False
            reply = ({"id": req_id, "ok": False, "error": E_INTERNAL,
                                 "msg": "%s while '%s' changed the pump: safe state" % (what, name)})
            self._on_fault("command %s raised %s" % (name, what))
            return reply
        try:
            self._errors.add({"error": E_INTERNAL, "cmd": name, "exc": what[:80]})
        except Exception:  # noqa: BLE001, S110 - the reply below matters more than its log record
            pass
        return ({"id": req_id, "ok": False, "error": E_INTERNAL,
                            "msg": "%s in '%s': nothing changed, delivery goes on" % (what, name)})
