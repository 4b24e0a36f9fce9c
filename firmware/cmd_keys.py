"""Key commands (loaded on demand, firmware/protocol.py): keys.state (public) and keys.provision.

keys.provision {"keys": {role: 64 lowercase hex | null}}. Unsigned, it is the first provisioning: only
on a bench, while no keys are stored (firmware/auth.py lets it through), and it sets every role at
once; a clinician key is required. Signed by the clinician, the roles named are re-keyed (a new key)
or removed (null); the others keep theirs. Every key is distinct and differs from the present one; a
board (not the simulator) refuses public and weak keys (weak_key; pumpctl checks the same before it
sends, tools/pumpctl/keys.py, kept equal by tests_host/test_keys_host.py). Counters and the key
record: firmware/authstore.py rekey (rekeyed_counters).
"""

import binascii

from firmware import record, roles
from firmware.authstore import (
    CTR_LEASE,
    CTR_MAX,
    KEY_BYTES,
    MAX_JUMP,
    RESET_CTR,
    ROLLOVER_CTR,
    dev_key,
    key_roles,
    rekey,
)
from firmware.errors import E_ARG_MISSING, E_ARG_RANGE, E_ARG_TYPE, E_ARG_UNKNOWN, E_STORAGE, CommandError
from firmware.params import only


def _record_name(status):
    if status == record.OK:
        return "ok"
    return "missing" if status == record.MISSING else "corrupt"


def state(ctl, req):
    """Which roles have a key, their last counters, the key record, the lockout and the limits."""
    only(req)
    auth = ctl.auth
    n = len(roles.ROLES)
    return {
        "roles": {roles.ROLES[i]: {"key": auth.keys[i] is not None, "ctr": auth.ctr[i]} for i in range(n)},
        "bench": ctl.hw.bench is not None,
        "record": _record_name(auth.record_status),
        "locked_s": auth.locked_s(ctl.mono_s()),
        "failures": auth.failures,
        "limits": {"max_failures": auth.max_failures, "window_s": auth.window_s,
                   "lockout_s": auth.lockout_s, "max_jump": MAX_JUMP, "rollover_ctr": ROLLOVER_CTR,
                   "reset_ctr": RESET_CTR, "ctr_lease": CTR_LEASE, "ctr_max": CTR_MAX},
    }


def weak_key(key):
    """True for a key a board must refuse (32 bytes): the public development key of any role, or a key
    with the marks of a made-up one: fewer than 16 different byte values (00..00, 1111.., deadbeef..),
    bytes in an arithmetic progression (00 01 02 .., ff fe fd ..), or printable ASCII only (a
    password). A random key has one of these marks with a probability below 1e-13."""
    for role in roles.ROLES:
        if key == dev_key(role):
            return True
    seen = set(key)
    if len(seen) < 16:
        return True
    step = (key[1] - key[0]) & 0xFF
    progression = True
    printable = True
    for i in range(len(key)):
        if i and (key[i] - key[i - 1]) & 0xFF != step:
            progression = False
        if not 0x20 <= key[i] <= 0x7E:
            printable = False
    return progression or printable


def _hex_key(value, role):
    try:
        if isinstance(value, str) and len(value) == 2 * KEY_BYTES and value == value.lower():
            return binascii.unhexlify(value)
    except ValueError:
        pass
    raise CommandError(E_ARG_TYPE, "key for '%s' must be 64 lowercase hex characters" % role)


def provision(ctl, req):
    """Set, re-key or remove role keys (module docstring). Replies the roles with a key, the roles
    re-keyed and every role's counter."""
    only(req, "keys")
    given = req.get("keys")
    if not isinstance(given, dict) or not given:
        raise CommandError(E_ARG_TYPE, "'keys' must be an object {role: 64 hex chars or null}")
    auth = ctl.auth
    signer = auth.verified_role            # None: the unsigned first provisioning
    keys = list(auth.keys) if signer is not None else [None] * len(roles.ROLES)
    sim = ctl.hw.board == "sim"
    for name in given:
        i = roles.index(name)
        if i < 0:
            raise CommandError(E_ARG_UNKNOWN, "unknown role '%s'" % str(name)[:20])
        value = given[name]
        if value is None:
            keys[i] = None
            continue
        key = _hex_key(value, name)
        if key == auth.keys[i]:
            raise CommandError(E_ARG_RANGE, "the new key for '%s' is the present one" % name)
        if not sim and weak_key(key):
            raise CommandError(E_ARG_RANGE, "the key for '%s' is public (a development key) or weak: "
                                            "generate random keys (pumpctl keys generate)" % name)
        keys[i] = key
    if keys[0] is None:
        raise CommandError(E_ARG_MISSING, "a clinician key is required")
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            if keys[a] is not None and keys[a] == keys[b]:
                raise CommandError(E_ARG_RANGE, "each role needs its own key")
    ctl.begin()
    try:
        changed = rekey(auth, keys, signer is None)
    except OSError as exc:
        raise CommandError(E_STORAGE, "keys could not be saved (%r): nothing changed" % (exc,))
    rekeyed = [roles.ROLES[i] for i in changed]
    ctl.log.add(ctl.wall_s(), "keys", {"by": signer or "bench", "roles": key_roles(keys), "rekeyed": rekeyed})
    return {"roles": key_roles(keys), "rekeyed": rekeyed,
            "ctr": {roles.ROLES[i]: auth.ctr[i] for i in range(len(roles.ROLES))}}

