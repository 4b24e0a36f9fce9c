"""The gate of firmware/auth.py: may this line run? (docs/protocol.md, "Roles and authentication").

Loaded on demand for each line (Auth.check, firmware/lazy.py); on a board it leaves RAM, with the
HMAC and the key record's code, before the command's handler loads. The state (keys, counters and
their reservations, the failure window, the lockout) stays in the Auth, which this code reads and
changes through its public methods only: accept (a counter consumed), count_failure (a refusal:
logged, counted, maybe a lockout), first_use, locked_s. The write-ahead of a counter's reservation
is the key record's (firmware/authstore.py reserve), loaded only when a frame needs a new lease.
"""

from firmware import lazy, record, roles
from firmware.auth import CTR_MAX, MAX_JUMP, ROLLOVER_CTR
from firmware.errors import (
    E_ARG_MISSING,
    E_ARG_TYPE,
    E_AUTH_FORBIDDEN,
    E_AUTH_MAC,
    E_AUTH_RATE_LIMIT,
    E_AUTH_REPLAY,
    E_AUTH_REQUIRED,
    E_AUTH_ROLE,
    E_AUTH_ROLLOVER,
    E_AUTH_STALE,
    E_BENCH_DISABLED,
    E_STORAGE,
    CommandError,
)
from firmware.hmac_sha256 import Hmac, equal

PROVISION = "keys.provision"


def check(auth, cmd, req, role, ctr, body, mac):
    """Let the request through: returns the signer (None for a public command or the first
    provisioning on the bench); or raise CommandError, the refusal counted (Auth.count_failure).
    A signed frame's counter is consumed and, above its reservation, a new lease is written before
    the command runs (write-ahead)."""
    bench = auth.hw.bench is not None
    if roles.needs_bench(cmd) and not bench:
        _fail(auth, auth.timebase.mono_s(), E_BENCH_DISABLED, "'%s' needs a bench (simulator or bench jumper)"
              % cmd[:40], cmd, role)
    if roles.is_public(cmd):
        return None
    now = auth.timebase.mono_s()
    if auth.first_use() and auth.record_status == record.CORRUPT:
        auth.events.add(auth.timebase.wall_s, "auth_record_lost", None)
    left_s = auth.locked_s(now)
    if left_s and not (bench and roles.needs_bench(cmd)):
        _fail(auth, now, E_AUTH_RATE_LIMIT, "too many authentication failures: authenticated commands "
                                            "refused for %d s more" % left_s, cmd, role)   # only counted
    if mac is None:
        if cmd == PROVISION and not auth.provisioned():
            if bench:
                return None   # first provisioning: unsigned, on the bench, while no keys are stored
            _fail(auth, now, E_BENCH_DISABLED, "the first provisioning needs the bench jumper", cmd, role)
        _fail(auth, now, E_AUTH_REQUIRED, "'%s' needs a signed frame: BODY~MAC with role and ctr" % cmd[:40],
              cmd, role)
    refused = refusal(auth, cmd, req, role, ctr, body, mac, bench)
    if refused is not None:
        _fail(auth, now, refused[0], refused[1], cmd, refused[2])
    i = roles.index(role)
    auth.accept(i, ctr)
    if ctr > auth.saved[i]:
        try:
            lazy.module("authstore").reserve(auth, i, ctr)
        except OSError as exc:
            if not roles.needs_bench(cmd):   # bench commands act on the simulator's mocks only
                auth.fail_log.add({"error": E_STORAGE, "cmd": cmd[:24], "role": role})
                raise CommandError(E_STORAGE, "the replay counter could not be saved (%r): refused" % (exc,))
    return role


def _fail(auth, now, code, msg, cmd, role):
    """Raise the refusal, counted (during a lockout only counted: Auth.count_failure)."""
    auth.count_failure(now, {"error": code, "cmd": cmd[:24], "role": role if roles.index(role) >= 0 else None})
    raise CommandError(code, msg)


def refusal(auth, cmd, req, role, ctr, body, mac, bench):
    """Why the gate refuses a signed frame (BODY~MAC of role `role`, counter `ctr`): (code, message,
    role for the log) or None to let it through. Reads the Auth's keys, counters and key record
    status; changes nothing."""
    i = roles.index(role)
    if i < 0:
        return E_AUTH_ROLE, "unknown role (use %s)" % ", ".join(roles.ROLES), None
    if auth.keys[i] is None:
        why = " (the key record is damaged: provision again on the bench)" if (
            auth.record_status == record.CORRUPT) else ""
        return E_AUTH_ROLE, "no key is provisioned for role '%s'%s" % (role, why), role
    if role == roles.BENCH and not bench:
        return E_BENCH_DISABLED, "the bench role needs a bench (simulator or bench jumper)", role
    if not equal(Hmac(auth.keys[i]).hexdigest(body), mac):
        return E_AUTH_MAC, "MAC does not match (key, role or body bytes differ)", role
    if not roles.allowed(role, cmd, req):
        return E_AUTH_FORBIDDEN, "role '%s' may not send '%s'" % (role, cmd[:40]), role
    if ctr is None:
        return E_ARG_MISSING, "signed frame without 'ctr'", role
    if isinstance(ctr, bool) or not isinstance(ctr, int):
        return E_ARG_TYPE, "'ctr' must be an integer 1..%d" % CTR_MAX, role
    last = auth.ctr[i]
    if ctr > CTR_MAX:
        return E_AUTH_ROLLOVER, "'ctr' beyond %d: re-key role '%s'" % (CTR_MAX, role), role
    if ctr <= last:
        return E_AUTH_REPLAY, "counter %d is not above the last accepted %d" % (ctr, last), role
    if ctr - last > MAX_JUMP:
        return E_AUTH_STALE, "counter %d is more than %d ahead of %d" % (ctr, MAX_JUMP, last), role
    if ctr >= ROLLOVER_CTR and cmd != PROVISION:
        return E_AUTH_ROLLOVER, "role '%s' has used its counters: re-key it (keys.provision)" % role, role
    return None
