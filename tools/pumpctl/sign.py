"""Host side of the authenticated frames (docs/protocol.md): which role a command goes out as, and
the signed line BODY~MAC with MAC = HMAC-SHA256(key of the role, BODY).

The role map itself is the firmware's (firmware/roles.py); the few names here are what the host needs
to choose a role, and tests_host/test_pumpctl_link.py checks that they agree with the firmware.
"""

import hashlib
import hmac
import json
import math

ROLES = ("clinician", "patient", "bench")
PUBLIC = ("info", "status", "log", "keys.state", "sim.state")
BENCH_PREFIXES = ("sim.", "fault.")
PATIENT_CMDS = ("demand", "ack")
MAX_LINE = 1024


class FrameError(ValueError):
    pass


def is_public(cmd):
    return cmd in PUBLIC


def role_preference(cmd, args):
    """Roles that may send `cmd`, the narrowest first (a patient key is used for a demand bolus if
    the key file holds one; a clinician key can send everything)."""
    if cmd in PATIENT_CMDS:
        return ("patient", "clinician")
    if cmd == "calibrate" or cmd.startswith(BENCH_PREFIXES):
        return ("bench", "clinician")
    if cmd == "set" and set(args) == {"nl_per_step"}:
        return ("bench", "clinician")
    return ("clinician",)


def mac_hex(key, body):
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def encode(req, role=None, ctr=None, key=None):
    """One request line (bytes, with its newline): unsigned, or signed as `role` with `ctr`."""
    try:
        if role is None:
            line = json.dumps(req, allow_nan=False).encode()
        else:
            body = json.dumps(dict(req, role=role, ctr=ctr), allow_nan=False).encode()
    except ValueError:
        bad = sorted(k for k, v in req.items() if isinstance(v, float) and not math.isfinite(v))
        raise FrameError("'%s': %s is not a finite number (NaN or Infinity cannot be sent)"
                         % (req.get("cmd"), ", ".join(bad) or "a value"))
    if role is not None:
        line = body + b"~" + mac_hex(key, body)
    if len(line) > MAX_LINE:
        raise FrameError("the request is %d bytes; a frame holds at most %d" % (len(line), MAX_LINE))
    return line + b"\n"
