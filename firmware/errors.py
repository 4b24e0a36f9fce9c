"""Error codes of the serial protocol. A refused command changes nothing and gets one of these.

Every code is a stable string; hosts match on the code, people read the message.
"""

E_FRAME_TOO_LONG = "E_FRAME_TOO_LONG"   # line longer than the frame limit; discarded
E_ENCODING = "E_ENCODING"               # not strict UTF-8 (overlong, surrogate, cut), or an escaped surrogate
E_JSON = "E_JSON"                       # not a JSON object
E_UNKNOWN_CMD = "E_UNKNOWN_CMD"
E_ARG_MISSING = "E_ARG_MISSING"
E_ARG_TYPE = "E_ARG_TYPE"               # not a number (or NaN), a fraction where a whole number is needed, ...
E_ARG_RANGE = "E_ARG_RANGE"             # outside the argument's range, infinite (1e400; 1e39 on a single-float board)
E_ARG_UNKNOWN = "E_ARG_UNKNOWN"         # an argument the command does not take
E_MODE = "E_MODE"                       # unknown or unsupported therapy mode
E_NO_DRUG = "E_NO_DRUG"                 # therapy needs a filled reservoir with a known drug
E_RATE = "E_RATE"                       # rate outside what the planner can deliver
E_CAPACITY = "E_CAPACITY"               # more than the reservoir holds
E_STATE = "E_STATE"                     # not allowed in the pump's present state
E_NOT_SUPPORTED = "E_NOT_SUPPORTED"     # e.g. a simulator-only command on a board
E_UNKNOWN_DRUG = "E_UNKNOWN_DRUG"       # not in the drug library
E_CONC_NOT_IN_LIBRARY = "E_CONC_NOT_IN_LIBRARY"
E_BOLUS_ACTIVE = "E_BOLUS_ACTIVE"       # a bolus is running; wait for it to end
E_BOLUS_TOO_SMALL = "E_BOLUS_TOO_SMALL"  # less than one pump step
E_DEMAND_NOT_SET = "E_DEMAND_NOT_SET"   # the clinician has not enabled demand boluses
E_DEMAND_LOCKOUT = "E_DEMAND_LOCKOUT"   # within the lockout after the last demand bolus
E_DEMAND_MAX_PER_DAY = "E_DEMAND_MAX_PER_DAY"  # the rolling 24 h maximum is used up
E_SCHEDULE = "E_SCHEDULE"               # a flex schedule that is not well formed
# Drug-library limits: E_SOFT_LIMIT_<LIMIT> (resend with "confirm": true) and E_HARD_LIMIT_<LIMIT>
# (always refused) for DOSE_DAY, BOLUS, DEMAND_DOSE, DEMAND_PER_DAY: see firmware/druglib.py.
E_STORAGE = "E_STORAGE"                 # flash failed: a write (nothing changed, MEMORY_ERROR raised) or a
                                        # log record that cannot be read back (a later `since` skips it)
E_INTERNAL = "E_INTERNAL"               # unexpected exception: before the command changed anything, nothing
#                                         changed and delivery goes on; after, the pump is in its safe state
# Authentication (firmware/auth.py, docs/protocol.md): each refusal is logged and changes nothing.
E_AUTH_REQUIRED = "E_AUTH_REQUIRED"     # the command needs a signed frame (BODY~MAC)
E_AUTH_MAC = "E_AUTH_MAC"               # the MAC does not match the body under the role's key
E_AUTH_ROLE = "E_AUTH_ROLE"             # unknown role, or a role without a provisioned key
E_AUTH_FORBIDDEN = "E_AUTH_FORBIDDEN"   # the role may not send this command
E_AUTH_REPLAY = "E_AUTH_REPLAY"         # counter not above the last accepted one for the role
E_AUTH_STALE = "E_AUTH_STALE"           # counter more than 2**20 ahead of the last accepted one
E_AUTH_ROLLOVER = "E_AUTH_ROLLOVER"     # the role's counter space is used up: re-key the role
E_AUTH_RATE_LIMIT = "E_AUTH_RATE_LIMIT"  # too many failures: authenticated commands wait
E_BENCH_DISABLED = "E_BENCH_DISABLED"   # bench role/command on a pump without a bench


class CommandError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg
