"""The key record of firmware/auth.py: per-role keys and replay counters on flash, the counter leases
and the high-water mark (the simulator's public development keys, which a board refuses, are
firmware/auth.py's dev_key; firmware/cmd_keys.py weak_key).

The state (keys, counters, reservations, marks, sequence numbers) stays in the Auth; this module is
its codec, the checks of a signed frame (refusal: MAC, role, counter) and the rules of its counters,
loaded on demand (firmware/lazy.py): at boot, for a signed frame and for keys.provision. Its functions
take values and return values; they read the Auth's public state and change nothing.

Keys and counters live in one atomic record ("auth", firmware/record.py): 3 slots of <B32sI> (key
present, key, counter reservation) in the order of roles.ROLES. In RAM `ctr` is each role's last
accepted counter; on flash the reservation (`_saved`) is at least that. A frame above the
reservation writes a new one, ctr + CTR_LEASE - 1, before its command runs, and after a reset a role
starts from its reservation: one flash write per CTR_LEASE frames, and no frame can ever run twice
(a reset skips at most one lease).

A second record ("ctrmark", <III) holds a high-water mark per role, raised MARK_SPAN beyond a
reservation and written before the reservation that passes it, so the mark on flash is never below a
reservation on flash. When the key record is damaged, the first provisioning starts every counter at
the mark: re-provisioning the same keys cannot let an old recorded frame run again.
"""

import struct

from micropython import const

from firmware import record, roles
from firmware.auth import (  # noqa: F401 - the constants and dev_key: firmware/cmd_keys.py takes them from here
    CTR_LEASE,
    CTR_MAX,
    KEY_BYTES,
    MAX_JUMP,
    PROVISION,
    RESET_CTR,
    ROLLOVER_CTR,
    dev_key,
)
from firmware.errors import (
    E_ARG_MISSING,
    E_ARG_TYPE,
    E_AUTH_FORBIDDEN,
    E_AUTH_MAC,
    E_AUTH_REPLAY,
    E_AUTH_ROLE,
    E_AUTH_ROLLOVER,
    E_AUTH_STALE,
    E_BENCH_DISABLED,
)
from firmware.hmac_sha256 import Hmac, equal

MARK_SPAN = const(0x10000)         # the high-water mark is raised this far beyond a reservation
MARK_RECORD = "ctrmark"
_MARK = "<III"
RECORD = "auth"
_SLOT = "<B32sI"
_SLOT_LEN = const(37)
_SEQ_MASK = const(0x3FFFFFFF)
def refusal(auth, cmd, req, role, ctr, body, mac, bench):
    """Why the Auth's gate refuses a signed frame (BODY~MAC of role `role`, counter `ctr`): (code,
    message, role for the log) or None to let it through. Reads the Auth's keys, counters and key
    record status; changes nothing."""
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


def lease(ctr):
    """The reservation written for an accepted ctr: CTR_LEASE counters, never into the reserved zone
    (from ROLLOVER_CTR a counter is reserved exactly: only keys.provision uses it)."""
    if ctr >= ROLLOVER_CTR:
        return ctr
    out = ctr + CTR_LEASE - 1
    return out if out < ROLLOVER_CTR else ROLLOVER_CTR - 1


def key_roles(keys):
    """The names of the roles that have a key in `keys` (one entry per role, None: no key)."""
    return [roles.ROLES[i] for i in range(len(roles.ROLES)) if keys[i] is not None]


def load(storage):
    """The key record: (status, seq, keys, reservations); status record.OK / MISSING / CORRUPT
    (unreadable counts as CORRUPT), keys and reservations one per role (None: no key)."""
    none = (None, None, None)
    try:
        status, seq, payload = record.load(storage, RECORD)
    except OSError:
        return record.CORRUPT, 0, none, [0, 0, 0]
    if status != record.OK:
        return status, 0, none, [0, 0, 0]
    if len(payload) != _SLOT_LEN * len(roles.ROLES):
        return record.CORRUPT, 0, none, [0, 0, 0]
    keys = [None, None, None]
    ctrs = [0, 0, 0]
    for i in range(len(roles.ROLES)):
        flag, key, ctr = struct.unpack_from(_SLOT, payload, i * _SLOT_LEN)
        if flag > 1 or ctr > CTR_MAX:
            return record.CORRUPT, 0, none, [0, 0, 0]
        keys[i] = key if flag else None
        ctrs[i] = ctr
    return record.OK, seq, keys, ctrs


def load_mark(storage):
    """(seq, marks) of the high-water mark record, or None if it is missing or unreadable (then the
    next reservation writes it again)."""
    try:
        status, seq, payload = record.load(storage, MARK_RECORD)
    except OSError:
        return None
    if status != record.OK or len(payload) != 12:
        return None
    marks = list(struct.unpack(_MARK, payload))
    for value in marks:
        if value > CTR_MAX:
            return None
    return seq, marks


def write_mark(storage, last_seq, marks):
    """Write the marks; returns their sequence number. Raises OSError."""
    seq = (last_seq + 1) & _SEQ_MASK
    record.save(storage, MARK_RECORD, seq, struct.pack(_MARK, marks[0], marks[1], marks[2]))
    return seq


def covering(marks, saved):
    """The marks raised above every reservation in `saved`, or None if they are above already."""
    out = list(marks)
    raised = False
    for i in range(len(saved)):
        if saved[i] > out[i]:
            out[i] = CTR_MAX if saved[i] > CTR_MAX - MARK_SPAN else saved[i] + MARK_SPAN
            raised = True
    return out if raised else None


def write_keys(storage, last_seq, keys, saved):
    """Write keys and counter reservations atomically (the caller wrote the covering mark first);
    returns the record's sequence number. Raises OSError."""
    payload = b""
    for i in range(len(roles.ROLES)):
        key = keys[i]
        payload += struct.pack(_SLOT, 1 if key is not None else 0, key or bytes(KEY_BYTES), saved[i])
    seq = (last_seq + 1) & _SEQ_MASK
    record.save(storage, RECORD, seq, payload)
    return seq


def rekeyed_counters(old_keys, keys, ctrs, saved, marks, first):
    """The counters of a re-key: (ctrs, saved, changed, reset), new lists. changed: the indices of
    the roles whose key changes; reset: those whose counter restarts at 0. first: the unsigned first
    provisioning, maybe after a damaged key record (the keys may be the old ones), so every counter
    starts at the high-water mark, above every frame ever accepted. Otherwise a changed key whose
    counter is past RESET_CTR restarts at 0 (the record is intact: it is a fresh key)."""
    ctrs = list(ctrs)
    saved = list(saved)
    changed = [i for i in range(len(keys)) if keys[i] != old_keys[i]]
    reset = []
    if first:
        for i in range(len(ctrs)):
            ctrs[i] = saved[i] = max(ctrs[i], saved[i], marks[i])
    else:
        for i in changed:
            if ctrs[i] > RESET_CTR and keys[i] is not None:
                ctrs[i] = saved[i] = 0
                reset.append(i)
    return ctrs, saved, changed, reset
