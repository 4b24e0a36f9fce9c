"""Serial protocol: one JSON object per line each way.

Request:  {"id": 7, "cmd": "program", ...arguments}
Reply:    {"id": 7, "ok": true, ...results}  or  {"id": 7, "ok": false, "error": "E_...", "msg": "..."}
Notice:   {"notice": "alarm_raise", "t_s": ..., ...}   (asynchronous; never has "ok")

A refused command changes nothing. An unexpected exception inside a command is answered with
E_INTERNAL and sends the pump to its safe state through the one shutdown path.
"""

import json

from firmware import commands
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


class Protocol:
    def __init__(self, pump):
        self._pump = pump

    def encode(self, obj):
        return (json.dumps(obj) + "\n").encode()

    def handle(self, line):
        """One framed line in, one encoded reply line out."""
        req_id = None
        try:
            if line == TOO_LONG:
                raise CommandError(E_FRAME_TOO_LONG, "line longer than %d bytes discarded" % MAX_LINE)
            try:
                text = line.decode("utf-8")
            except (UnicodeError, ValueError):
                raise CommandError(E_ENCODING, "request is not UTF-8")
            try:
                req = json.loads(text)
            except (ValueError, TypeError):
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
            handler = commands.lookup(cmd)
            if handler is None:
                raise CommandError(E_UNKNOWN_CMD, "unknown command '%s'" % cmd[:40])
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
