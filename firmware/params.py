"""Small checks shared by the command handlers (they take the handler's Control, firmware/control.py)."""

from firmware.errors import E_ARG_TYPE, E_ARG_UNKNOWN, E_BOLUS_ACTIVE, E_NO_DRUG, E_RATE, E_STATE, CommandError
from firmware.planner import rate_allowed

_BASE_KEYS = ("id", "cmd")


def only(req, *keys):
    """Refuse any argument the command does not take."""
    for key in req:
        if key not in keys and key not in _BASE_KEYS:
            raise CommandError(E_ARG_UNKNOWN, "unexpected argument '%s'" % str(key)[:40])


def flag(req, key):
    value = req.get(key, False)
    if not isinstance(value, bool):
        raise CommandError(E_ARG_TYPE, "'%s' must be true or false" % key)
    return value


def require_drug(ctl):
    if ctl.acct.drug is None:
        raise CommandError(E_NO_DRUG, "fill the reservoir (refill) first")


def require_can_deliver(ctl):
    """A bolus may start: not in the safe state, not empty, no other bolus running."""
    require_drug(ctl)
    if ctl.stop_mask():
        raise CommandError(E_STATE, "delivery is stopped: " + ", ".join(ctl.stopped_by()))
    if ctl.bolus.active():
        raise CommandError(E_BOLUS_ACTIVE, "a bolus is running (%s)" % ctl.bolus.kind)


def volume_pl(dose_ng, conc_mcg_ml):
    """Volume in pL that holds dose_ng at conc (mcg/mL = ng/uL), rounded down."""
    return dose_ng * 1_000_000 // conc_mcg_ml


def check_rate(rate_nl_day, step_pl, what=None):
    """Refuse a rate the planner cannot deliver with step_pl pL steps (firmware/planner.py rate_allowed)."""
    if not rate_allowed(step_pl, rate_nl_day):
        msg = "%d nL/day cannot be delivered with %d pL steps" % (rate_nl_day, step_pl)
        raise CommandError(E_RATE, what + ": " + msg if what else msg)
