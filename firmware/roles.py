"""Who may send which command: the role map of the serial protocol (docs/protocol.md).

- Public (no authentication): the read-only commands in PUBLIC (sim.state still needs a bench).
- clinician: every command.
- patient: demand and ack (and the public reads), nothing else.
- bench: calibrate, `set` of nl_per_step alone, and the bench commands (sim.*, fault.*); the bench
  role and the bench commands work only on a pump whose board reports a bench (hw.bench: the
  simulator, or a board booted with the bench jumper closed).
Safe default: a command not named here is clinician-only and authenticated.
"""

CLINICIAN = "clinician"
PATIENT = "patient"
BENCH = "bench"
ROLES = (CLINICIAN, PATIENT, BENCH)     # the order is the key record's slot order: never reorder

PUBLIC = ("info", "status", "log", "keys.state", "sim.state")   # read-only (sim.state: bench only)
BENCH_PREFIXES = ("sim.", "fault.")     # commands that exist only with a bench
_PATIENT_CMDS = ("demand", "ack")
_BENCH_CMDS = ("calibrate",)
_BENCH_SET_KEYS = ("nl_per_step",)      # the bench may set the calibration, nothing else
_BASE_KEYS = ("id", "cmd")


def is_public(cmd):
    return cmd in PUBLIC


def needs_bench(cmd):
    for prefix in BENCH_PREFIXES:
        if cmd.startswith(prefix):
            return True
    return False


def index(role):
    """Slot of a role name, or -1 for anything that is not a role."""
    for i in range(len(ROLES)):
        if ROLES[i] == role:
            return i
    return -1


def allowed(role, cmd, req):
    """May `role` (already authenticated) send `cmd` with these arguments?"""
    if role == CLINICIAN:
        return True
    if role == PATIENT:
        return cmd in _PATIENT_CMDS
    if role == BENCH:
        if cmd in _BENCH_CMDS or needs_bench(cmd):
            return True
        if cmd == "set":
            changed = 0
            for key in req:
                if key in _BASE_KEYS:
                    continue
                if key not in _BENCH_SET_KEYS:
                    return False
                changed += 1
            return changed > 0
    return False
