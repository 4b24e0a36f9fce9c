"""Commands the page sends: the forms' fields (people's units) checked and turned into protocol
requests, the review of a command that changes therapy, and its application.

A change of therapy (program, bolus, refill) goes in two steps, as with `pumpctl program`: `review`
returns present and new side by side (for `program` the firmware's own dry run) with a single-use
token that stands for exactly that request; `apply` takes only the token, so what runs is what the
user saw and confirmed. A refused command changes nothing and comes back as the pump's error.
"""

import hashlib
import math
import os
import time

from pumpctl import simtree
from pumpctl.timefmt import parse_time
from pumpctl.ui import view

KINDS = ("program", "bolus", "refill")
MODES = ("continuous", "flex", "minimum", "stopped")
# the simulator's faults (boards/sim/bench.py FAULTS, the one list) the dashboard may inject: all but
# flash_fail, which the page neither offers nor shows (scenarios and `pumpctl sim fault` have it)
FAULTS = tuple(f for f in simtree.sim_bench().FAULTS if f != "flash_fail")
REVIEW_TTL_S = 600
MAX_RUN_S = 366 * 86400       # one run-until request moves virtual time at most a year


class BadInput(ValueError):
    """A field the user typed is wrong; the message names the field and its unit."""


# --- fields ----------------------------------------------------------------------------------------------

def number(body, key, label, lo=None, hi=None, required=True):
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadInput("%s is missing" % label)
        return None
    if isinstance(value, bool):
        raise BadInput("%s must be a number (got %r)" % (label, value))
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadInput("%s must be a number (got %r)" % (label, value))
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInput("%s must be a finite number (got %r)" % (label, value))
    if lo is not None and value < lo or hi is not None and value > hi:
        raise BadInput("%s must be between %g and %g (got %g)" % (label, lo, hi, value))
    return int(value) if float(value).is_integer() else value


def duration(body, key, label):
    value = body.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        seconds = parse_time(value if not isinstance(value, str) else value.strip())
    except ValueError as exc:
        raise BadInput("%s: %s" % (label, exc))
    if seconds <= 0:
        raise BadInput("%s must be longer than 0 s" % label)
    return seconds


def cycle_start(text, cycle_s, label):
    """Seconds into the cycle from '08:00', 'Tue 08:00' (week cycles) or a number of seconds."""
    if isinstance(text, bool):
        raise BadInput("%s: bad start %r" % (label, text))
    if isinstance(text, int):
        start = text
    else:
        words = str(text).strip().split()
        day = 0
        if len(words) == 2 and words[0][:3].capitalize() in view.WEEKDAYS:
            day = view.WEEKDAYS.index(words[0][:3].capitalize())
            words = words[1:]
        if len(words) != 1:
            raise BadInput("%s: bad start %r (use 08:00, 'Tue 08:00' or seconds)" % (label, text))
        hh, sep, mm = words[0].partition(":")
        try:
            if sep:
                h, m = int(hh), int(mm)
                if not (0 <= h < 24 and 0 <= m < 60):
                    raise ValueError
                start = day * 86400 + h * 3600 + m * 60
            else:
                start = day * 86400 + int(hh)
        except ValueError:
            raise BadInput("%s: bad start %r (use 08:00, 'Tue 08:00' or seconds)" % (label, text))
    if not 0 <= start < cycle_s:
        raise BadInput("%s: start %r is outside the %s cycle" % (label, text, "week" if cycle_s > 86400 else "day"))
    return start


def parse(kind, body):
    """The protocol request (cmd arguments) for a form's fields. Raises BadInput."""
    if not isinstance(body, dict):
        raise BadInput("the form must be a JSON object")
    if kind == "program":
        req = _parse_program(body)
    elif kind == "bolus":
        req = {"dose_mcg": number(body, "dose_mcg", "bolus dose (mcg)", 0.001, 100000),
               "duration_s": duration(body, "duration", "bolus duration")}
    elif kind == "refill":
        drug = body.get("drug")
        if not isinstance(drug, str) or not drug.strip():
            raise BadInput("drug is missing")
        req = {"drug": drug.strip().lower(),
               "conc_mcg_ml": number(body, "conc_mcg_ml", "concentration (mcg/mL)", 1, 1000000),
               "volume_ml": number(body, "volume_ml", "volume (mL)", 0.001, 1000)}
        residual = number(body, "residual_ml", "drained residual (mL)", 0, 1000, required=False)
        if residual is not None:
            req["residual_ml"] = residual
        if body.get("bridge"):
            req["bridge"] = True
        if not isinstance(req["conc_mcg_ml"], int):
            raise BadInput("concentration (mcg/mL) must be a whole number (got %g)" % req["conc_mcg_ml"])
    else:
        raise BadInput("unknown command %r (use %s)" % (kind, ", ".join(KINDS)))
    if kind != "refill" and body.get("confirm_limit"):
        req["confirm"] = True
    return req


def _parse_program(body):
    mode = body.get("mode")
    if mode not in MODES:
        raise BadInput("mode must be one of %s (got %r)" % (", ".join(MODES), mode))
    req = {"mode": mode}
    if mode == "continuous":
        req["dose_mcg_day"] = number(body, "dose_mcg_day", "daily dose (mcg/day)", 0.001, 100000)
    elif mode == "flex":
        cycle = body.get("cycle", "day")
        if cycle not in ("day", "week"):
            raise BadInput("cycle must be day or week (got %r)" % (cycle,))
        cycle_s = view.WEEK_S if cycle == "week" else view.DAY_S
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            raise BadInput("a flex programme needs at least one step (start and mcg/day)")
        if len(steps) > 24:
            raise BadInput("a flex programme has at most 24 steps (got %d)" % len(steps))
        out = []
        for i, step in enumerate(steps):
            label = "step %d" % (i + 1)
            if not isinstance(step, dict):
                raise BadInput("%s must have a start and a dose" % label)
            out.append({"start_s": cycle_start(step.get("start"), cycle_s, label),
                         "dose_mcg_day": number(step, "dose_mcg_day", label + " dose (mcg/day)", 0.001, 100000)})
        out.sort(key=lambda s: s["start_s"])
        for a, b in zip(out, out[1:]):
            if a["start_s"] == b["start_s"]:
                raise BadInput("two steps start at %s" % view.clock(a["start_s"], cycle_s))
        req.update(cycle=cycle, steps=out)
    return req


# --- review and apply ----------------------------------------------------------------------------------

class Reviews:
    """Single-use tokens for reviewed requests (they expire after REVIEW_TTL_S)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._pending = {}

    def issue(self, kind, req):
        now = self._clock()
        for token in [t for t, (_, _, at) in self._pending.items() if now - at > REVIEW_TTL_S]:
            del self._pending[token]
        token = hashlib.sha256(os.urandom(32)).hexdigest()[:32]
        self._pending[token] = (kind, req, now)
        return token

    def take(self, token):
        """(kind, req) of a token, used up; BadInput if unknown or expired."""
        entry = self._pending.pop(token, None) if isinstance(token, str) else None
        if entry is None or self._clock() - entry[2] > REVIEW_TTL_S:
            raise BadInput("this review is unknown or expired: review the change again")
        return entry[0], entry[1]


def review(device, kind, req):
    """{'ok': True, 'rows': [(field, present, new)]} or the pump's refusal (of the dry run)."""
    status = device.call("status")
    if kind == "program":
        dry = device.request("program", dry_run=True, **req)
        if not dry.get("ok"):
            return dry
        rows = view.review_program(dry, status)
    elif kind == "bolus":
        rows = view.review_bolus(req, status)
    else:
        rows = view.review_refill(req, status)
    return {"ok": True, "rows": [list(r) for r in rows]}


def apply(device, kind, req):
    """Send the reviewed request; on the simulator a refill fills the mock reservoir too (the syringe)."""
    reply = device.request(kind, **req)
    if kind == "refill" and reply.get("ok") and device.is_sim:
        fill = device.request("sim.fill", volume_nl=round(req["volume_ml"] * 1_000_000))
        if not fill.get("ok"):
            reply["warning"] = "the mock reservoir was not filled: %s %s" % (fill.get("error"), fill.get("msg"))
    return reply


HINTS = {
    "E_AUTH_REQUIRED": "no key for this command: start pumpctl ui with --keys FILE (or --dev-keys on a simulator)",
    "E_AUTH_ROLE": "the loaded keys are not this pump's: check --keys",
    "E_AUTH_MAC": "the loaded keys are not this pump's: check --keys",
    "E_BENCH_DISABLED": "bench commands need the simulator or a board booted with the bench jumper",
}


def hint(reply):
    return HINTS.get(reply.get("error"))
