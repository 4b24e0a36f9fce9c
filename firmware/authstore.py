"""The key record of firmware/auth.py: per-role keys and replay counters on flash, the counter leases
and the high-water mark, and the simulator's public development keys (dev_key), which a board
refuses (firmware/cmd_keys.py weak_key).

The state (keys, counters, reservations, marks, sequence numbers) stays in the Auth; this module is
its codec, the rules of its counters and the jobs that read and write the record, loaded on demand
(firmware/lazy.py): at boot (restore), when a frame needs a new lease (reserve, from firmware/gate.py),
for keys.provision (rekey, from firmware/cmd_keys.py) and the simulator's keys at start (install). It
changes the Auth only through its public methods (adopt, stored, marked); its other functions take
values and return values.

Keys and counters live in one atomic record ("auth", firmware/record.py): 3 slots of <B32sI> (key
present, key, counter reservation) in the order of roles.ROLES. In RAM `ctr` is each role's last
accepted counter; on flash the reservation (`saved`) is at least that. A frame above the
reservation writes a new one, ctr + CTR_LEASE - 1, before its command runs, and after a reset a role
starts from its reservation: one flash write per CTR_LEASE frames, and no frame can ever run twice
(a reset skips at most one lease).

A second record ("ctrmark", <III) holds a high-water mark per role, raised MARK_SPAN beyond a
reservation and written before the reservation that passes it, so the mark on flash is never below a
reservation on flash. When the key record is damaged, the first provisioning starts every counter at
the mark: re-provisioning the same keys cannot let an old recorded frame run again.
"""

import hashlib
import struct

from micropython import const

from firmware import record, roles
from firmware.auth import (  # noqa: F401 - the constants: firmware/cmd_keys.py takes them from here
    CTR_LEASE,
    CTR_MAX,
    MAX_JUMP,
    ROLLOVER_CTR,
)

RESET_CTR = const(0x20000000)      # 2**29: re-keying a role past this restarts its counter at 0
KEY_BYTES = const(32)
MARK_SPAN = const(0x10000)         # the high-water mark is raised this far beyond a reservation
MARK_RECORD = "ctrmark"
_MARK = "<III"
RECORD = "auth"
_SLOT = "<B32sI"
_SLOT_LEN = const(37)
_SEQ_MASK = const(0x3FFFFFFF)
# Development keys: the simulator's only (public seed, see boards/sim/board.py). A board refuses them.
DEV_SEED = b"micro-dosing pump simulator development key (public, never on a board): "


def dev_key(role):
    """The simulator's public development key of `role`."""
    return hashlib.sha256(DEV_SEED + role.encode()).digest()


# --- the Auth's jobs on the record --------------------------------------------------------------------
def restore(auth):
    """The boot's job: the high-water mark and the key record read from flash into `auth` (after a
    reset every reserved counter counts as used; a record missing or damaged: no keys, counters 0)."""
    storage = auth.hw.storage
    mark = load_mark(storage)
    if mark is not None:
        auth.marked(mark[0], mark[1])
    status, seq, keys, ctrs = load(storage)
    auth.stored(seq, ctrs)
    auth.adopt(list(keys), ctrs, status)


def _write_mark(auth, marks):
    auth.marked(write_mark(auth.hw.storage, auth.mark_seq, marks), marks)


def _storage_failed(auth, exc):
    auth.storage_status.storage_failed("auth counters", exc)


def write(auth, keys, saved):
    """Write keys and counter reservations atomically, the mark first (the mark on flash is never
    below a reservation on flash). Raises OSError."""
    marks = covering(auth.mark, saved)
    if marks is not None:
        _write_mark(auth, marks)
    auth.stored(write_keys(auth.hw.storage, auth.seq, keys, saved), saved)
    auth.storage_status.storage_ok()


def save(auth, keys, ctrs):
    """Write keys and counters atomically, then adopt them (each counter its own reservation).
    Raises OSError (nothing adopted)."""
    write(auth, keys, ctrs)
    auth.adopt(keys, ctrs, record.OK)


def reserve(auth, i, ctr):
    """Write-ahead of role i's accepted counter `ctr`, above its reservation: a new lease on flash
    before its command runs. OSError (told to the storage status) if it cannot be written."""
    saved = list(auth.saved)
    saved[i] = lease(ctr)
    try:
        write(auth, auth.keys, saved)
    except OSError as exc:
        _storage_failed(auth, exc)
        raise


def install(auth, keys_by_role, by):
    """Store keys directly (the simulator's development keys at start). Counters are kept, and never
    below the high-water mark (a damaged key record may have lost them). Raises OSError."""
    keys = [keys_by_role.get(role) for role in roles.ROLES]
    save(auth, keys, [max(auth.ctr[i], auth.mark[i]) for i in range(len(roles.ROLES))])
    names = key_roles(keys)
    auth.events.add(auth.timebase.wall_s, "keys", {"by": by, "roles": names, "rekeyed": list(names)})


def rekey(auth, keys, first):
    """Store `keys` (one per role in roles.ROLES order, None: no key) and adopt them; returns the
    indices of the roles whose key changed. Counters: rekeyed_counters (first: the unsigned first
    provisioning starts every counter at the high-water mark). A counter restarted at 0 lowers its
    mark too, after the key record (a power cut before that write keeps the mark high: the safe
    side). OSError if the key record cannot be written: nothing changed."""
    ctrs, saved, changed, reset = rekeyed_counters(auth.keys, keys, auth.ctr, auth.saved, auth.mark, first)
    try:
        write(auth, keys, saved)
    except OSError as exc:
        _storage_failed(auth, exc)
        raise
    auth.adopt(keys, ctrs, record.OK)
    if reset:
        marks = list(auth.mark)
        for i in reset:
            marks[i] = saved[i]
        try:
            _write_mark(auth, marks)
        except OSError as exc:
            _storage_failed(auth, exc)
    return changed


# --- the codec and the counters' rules: values in, values out --------------------------------------------
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
