"""Serving one line of the serial protocol (docs/protocol.md; the frame format: firmware/protocol.py).

Loaded on demand by Protocol.handle (firmware/protocol.py), which keeps the state between lines; on
boards (Config.evict_handlers) this code, the Control and the handler leave RAM after the reply.

A line is parsed, authenticated (firmware/auth.py) and dispatched to its handler, loaded by name
(_HANDLERS: command -> module, function) only after the frame is authenticated; the handler gets a
Control built for this command (Pump.control, firmware/control.py), never the Pump.

An unexpected exception is answered with E_INTERNAL. While a request is parsed, authenticated or
validated, or in a read-only command, nothing has changed: the reply says so and delivery goes on (the
error is logged, bounded: "cmd_error"). Once a command has begun to change the pump (Control.begin(),
called where its checks end), an exception leaves half a change: a fault of the pump, which goes to
its safe state through the one shutdown path. The safe state is for faults of the delivery path, never
for a bad request.
"""

import json

from micropython import const

from firmware import lazy
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

MAC_HEX = const(64)
_SEP = const(0x7E)   # "~"


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
    """(body, MAC as 64 bytes or None). A signed frame's body is a view into the line, not a copy."""
    n = len(line)
    if n > MAC_HEX and line[n - MAC_HEX - 1] == _SEP:
        return memoryview(line)[:n - MAC_HEX - 1], line[n - MAC_HEX:]
    return line, None


def handle(protocol, line):
    """One framed line in, its reply (a dict for Protocol.send()) out. `protocol` is the Protocol
    (firmware/protocol.py): its gate (auth), its command state (acting) and its error log."""
    req_id = None
    cmd = None
    try:
        if line == TOO_LONG:
            raise CommandError(E_FRAME_TOO_LONG, "line longer than %d bytes discarded" % MAX_LINE)
        if line == BAD_TEXT:
            raise CommandError(E_ENCODING, "request is not valid UTF-8 (overlong, surrogate or cut "
                                           "sequence, or an escaped surrogate)")
        body, mac = split_frame(line)
        try:
            text = str(body, "utf-8")
        except (UnicodeError, ValueError):
            raise CommandError(E_ENCODING, "request is not UTF-8")
        try:
            req = json.loads(text)
        except (ValueError, TypeError, RuntimeError, MemoryError):   # RuntimeError: nesting too deep
            raise CommandError(E_JSON, "request is not valid JSON")
        text = None                      # the command runs without the request's text (heap)
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
        protocol.auth.check(cmd, req, role, ctr, body, mac)
        result = load_handler(entry)(protocol.new_control(), req)
        protocol.change_done()           # done: the change is whole
        reply = {"id": req_id, "ok": True}
        if result:
            reply.update(result)
        return reply
    except CommandError as err:
        return {"id": req_id, "ok": False, "error": err.code, "msg": err.msg}
    except Exception as exc:  # noqa: BLE001 - unexpected: a failed command, or a fault (see above)
        return _internal(protocol, req_id, cmd, exc)


def _internal(protocol, req_id, cmd, exc):
    name = cmd[:24] if cmd is not None else None
    if not protocol.acting:
        return protocol.failed(req_id, name, exc)
    protocol.change_done()
    what = repr(exc)[:160]
    reply = ({"id": req_id, "ok": False, "error": E_INTERNAL,
                         "msg": "%s while '%s' changed the pump: safe state" % (what, name)})
    protocol.on_fault("command %s raised %s" % (name, what))
    return reply
