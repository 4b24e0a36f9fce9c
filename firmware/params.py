"""Small checks shared by the command handlers."""

from firmware.errors import E_ARG_TYPE, E_ARG_UNKNOWN, E_BOLUS_ACTIVE, E_NO_DRUG, E_STATE, CommandError

_BASE_KEYS = ("id", "cmd")


def begin(pump):
    """Every check has passed: the command now changes the pump. From here on an exception is a fault
    of the pump (half a change: the safe state), no longer a refused command (firmware/protocol.py)."""
    pump.protocol.acting = True


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


def require_drug(pump):
    if pump.acct.drug is None:
        raise CommandError(E_NO_DRUG, "fill the reservoir (refill) first")


def require_can_deliver(pump):
    """A bolus may start: not in the safe state, not empty, no other bolus running."""
    require_drug(pump)
    if pump.stop_mask:
        raise CommandError(E_STATE, "delivery is stopped: " + ", ".join(pump.supervisor.stop_names(pump.stop_mask)))
    if pump.bolus.active():
        raise CommandError(E_BOLUS_ACTIVE, "a bolus is running (%s)" % pump.bolus.kind)


def volume_pl(dose_ng, conc_mcg_ml):
    """Volume in pL that holds dose_ng at conc (mcg/mL = ng/uL), rounded down."""
    return dose_ng * 1_000_000 // conc_mcg_ml
