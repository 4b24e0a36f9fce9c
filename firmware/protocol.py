"""Serial protocol: one JSON object per line each way (docs/protocol.md).

Request:  {"id": 7, "cmd": "program", ...arguments}                        public commands
          {"id": 7, "cmd": "program", ..., "role": "clinician", "ctr": 42}~<64 hex MAC>   all others
Reply:    {"id": 7, "ok": true, ...results}  or  {"id": 7, "ok": false, "error": "E_...", "msg": "..."}
Notice:   {"notice": "alarm_raise", "t_s": ..., ...}   (asynchronous; never has "ok")

A line whose last 65 bytes are "~" and 64 characters is a signed frame: the MAC covers the exact
bytes before the "~" (a JSON object ends with "}", so an unsigned request never looks like one).
"role" and "ctr" are taken out of the request before the command sees it; firmware/auth.py decides
whether the request may run. A refused command changes nothing. An unexpected exception inside a
command is answered with E_INTERNAL and sends the pump to its safe state through the one shutdown path.
"""

import json

from micropython import const

from firmware import commands
from firmware.auth import COMMANDS as AUTH_COMMANDS
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
from firmware.framing import MAX_LINE, TOO_LONG

MAC_HEX = const(64)
_SEP = const(0x7E)   # "~"


def split_frame(line):
    """(body bytes, MAC as 64 bytes or None)."""
    n = len(line)
    if n > MAC_HEX and line[n - MAC_HEX - 1] == _SEP:
        return line[:n - MAC_HEX - 1], line[n - MAC_HEX:]
    return line, None


class Protocol:
    def __init__(self, pump):
        self._pump = pump
        self.auth = Auth(pump)

    def encode(self, obj):
        return (json.dumps(obj) + "\n").encode()

    def handle(self, line):
        """One framed line in, one encoded reply line out."""
        req_id = None
        try:
            if line == TOO_LONG:
                raise CommandError(E_FRAME_TOO_LONG, "line longer than %d bytes discarded" % MAX_LINE)
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
                raise CommandError(E_UNKNOWN_CMD, "missing 'cmd'")
            handler = AUTH_COMMANDS.get(cmd) or commands.lookup(cmd)
            if handler is None:
                raise CommandError(E_UNKNOWN_CMD, "unknown command '%s'" % cmd[:40])
            role = req.pop("role", None)
            ctr = req.pop("ctr", None)
            self.auth.check(cmd, req, role, ctr, body, mac)
            result = handler(self._pump, req)
            reply = {"id": req_id, "ok": True}
            if result:
                reply.update(result)
            return self.encode(reply)
        except CommandError as err:
            return self.encode({"id": req_id, "ok": False, "error": err.code, "msg": err.msg})
        except Exception as exc:  # noqa: BLE001 - unexpected: answer, then the one shutdown path
            reply = self.encode({"id": req_id, "ok": False, "error": E_INTERNAL, "msg": repr(exc)[:200]})
            self._pump.shutdown("command raised %r" % (exc,))
            return reply
