"""The key record of firmware/auth.py: per-role keys and replay counters on flash, the counter leases
and the high-water mark, and the simulator's public development keys (a board refuses them:
firmware/cmd_keys.py weak_key).

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

import hashlib
import struct

from micropython import const

from firmware import record, roles
from firmware.hmac_sha256 import Hmac

CTR_MAX = const(0x3FFFFFFF)        # 2**30 - 1
ROLLOVER_CTR = const(0x3FFFFC00)   # 2**30 - 1024: from here on only keys.provision is accepted
RESET_CTR = const(0x20000000)      # 2**29: re-keying a role past this restarts its counter at 0
MAX_JUMP = const(0x100000)         # 2**20: a counter further ahead is refused (E_AUTH_STALE)
CTR_LEASE = const(64)              # counters reserved on flash by one write (one write per 64 frames)
MARK_SPAN = const(0x10000)         # the high-water mark is raised this far beyond a reservation
MARK_RECORD = "ctrmark"
_MARK = "<III"
KEY_BYTES = const(32)
RECORD = "auth"
_SLOT = "<B32sI"
_SLOT_LEN = const(37)
# Development keys: the simulator's only (public seed, see boards/sim/board.py). A board refuses them.
DEV_SEED = b"micro-dosing pump simulator development key (public, never on a board): "


def dev_key(role):
    return hashlib.sha256(DEV_SEED + role.encode()).digest()


def _lease(ctr):
    """The reservation written for an accepted ctr: CTR_LEASE counters, never into the reserved zone
    (from ROLLOVER_CTR a counter is reserved exactly: only keys.provision uses it)."""
    if ctr >= ROLLOVER_CTR:
        return ctr
    lease = ctr + CTR_LEASE - 1
    return lease if lease < ROLLOVER_CTR else ROLLOVER_CTR - 1


def key_roles(keys):
    """The names of the roles that have a key in `keys` (one entry per role, None: no key)."""
    return [roles.ROLES[i] for i in range(len(roles.ROLES)) if keys[i] is not None]


class KeyStore:
    """Keys, counters, reservations and marks of an Auth (a mixin: `self._hw` (hw.storage) and
    `self._status` (storage_ok(), storage_failed(what, exc): firmware/store.py) are the Auth's)."""

    def _init_store(self):
        self.keys = [None, None, None]
        self.ctr = [0, 0, 0]               # last accepted counter per role (RAM, exact)
        self._saved = [0, 0, 0]            # reservation on flash per role: >= ctr
        self._macs = [None, None, None]
        self._seq = 0
        self.mark = [0, 0, 0]              # high-water mark on flash per role: >= every reservation
        self._mark_seq = 0

    def _load(self):
        self._load_mark()
        try:
            status, seq, payload = record.load(self._hw.storage, RECORD)
        except OSError:
            return record.CORRUPT
        if status != record.OK:
            return status
        if len(payload) != _SLOT_LEN * len(roles.ROLES):
            return record.CORRUPT
        keys = [None, None, None]
        ctrs = [0, 0, 0]
        for i in range(len(roles.ROLES)):
            flag, key, ctr = struct.unpack_from(_SLOT, payload, i * _SLOT_LEN)
            if flag > 1 or ctr > CTR_MAX:
                return record.CORRUPT
            keys[i] = key if flag else None
            ctrs[i] = ctr
        self._seq = seq
        self._saved = list(ctrs)
        self._set(keys, ctrs)        # after a reset every reserved counter counts as used
        return record.OK

    def _load_mark(self):
        """The high-water marks; [0, 0, 0] if the record is missing or unreadable (then the next
        reservation writes it again)."""
        try:
            status, seq, payload = record.load(self._hw.storage, MARK_RECORD)
        except OSError:
            return
        if status != record.OK or len(payload) != 12:
            return
        marks = list(struct.unpack(_MARK, payload))
        for value in marks:
            if value > CTR_MAX:
                return
        self.mark = marks
        self._mark_seq = seq

    def _set(self, keys, ctrs):
        self.keys = keys
        self.ctr = ctrs
        self._macs = [Hmac(k) if k is not None else None for k in keys]

    def _write_mark(self, marks):
        seq = (self._mark_seq + 1) & 0x3FFFFFFF
        record.save(self._hw.storage, MARK_RECORD, seq, struct.pack(_MARK, marks[0], marks[1], marks[2]))
        self._mark_seq = seq
        self.mark = list(marks)

    def _cover(self, saved):
        """Raise the high-water mark above every reservation in `saved` (written first: the mark on
        flash is never below a reservation on flash). Raises OSError."""
        marks = list(self.mark)
        raised = False
        for i in range(len(saved)):
            if saved[i] > marks[i]:
                marks[i] = CTR_MAX if saved[i] > CTR_MAX - MARK_SPAN else saved[i] + MARK_SPAN
                raised = True
        if raised:
            self._write_mark(marks)

    def _write(self, keys, saved):
        """Write keys and counter reservations atomically (the mark first). Raises OSError."""
        self._cover(saved)
        payload = b""
        for i in range(len(roles.ROLES)):
            key = keys[i]
            payload += struct.pack(_SLOT, 1 if key is not None else 0, key or bytes(KEY_BYTES), saved[i])
        seq = (self._seq + 1) & 0x3FFFFFFF
        record.save(self._hw.storage, RECORD, seq, payload)
        self._seq = seq
        self._saved = list(saved)
        self._status.storage_ok()

    def _save(self, keys, ctrs):
        """Write keys and counters atomically, then adopt them (each counter its own reservation).
        Raises OSError (nothing adopted)."""
        self._write(keys, ctrs)
        self._set(keys, list(ctrs))

    def _storage_failed(self, exc):
        self._status.storage_failed("auth counters", exc)

    def rekey(self, keys, first):
        """Store `keys` (one per role in roles.ROLES order, None: no key) and adopt them; returns the
        indices of the roles whose key changed. first: the unsigned first provisioning, maybe after a
        damaged key record (the keys may be the old ones), so every counter starts at the high-water
        mark, above every frame ever accepted. Otherwise a changed key whose counter is past
        RESET_CTR restarts at 0, and its mark is lowered too (a power cut before that write keeps the
        mark high: the safe side). OSError if the key record cannot be written: nothing changed."""
        ctrs = list(self.ctr)
        saved = list(self._saved)
        changed = [i for i in range(len(keys)) if keys[i] != self.keys[i]]
        reset = []
        if first:
            for i in range(len(ctrs)):
                ctrs[i] = saved[i] = max(ctrs[i], saved[i], self.mark[i])
        else:
            for i in changed:
                if ctrs[i] > RESET_CTR and keys[i] is not None:   # a fresh key (the record is intact)
                    ctrs[i] = saved[i] = 0
                    reset.append(i)
        try:
            self._write(keys, saved)
        except OSError as exc:
            self._storage_failed(exc)
            raise
        self._set(keys, ctrs)
        if reset:
            marks = list(self.mark)
            for i in reset:
                marks[i] = saved[i]
            try:
                self._write_mark(marks)
            except OSError as exc:
                self._storage_failed(exc)
        self.record_status = record.OK
        return changed

    def provisioned(self):
        return self.keys[0] is not None

    def last_ctr(self, role):
        i = roles.index(role)
        return self.ctr[i] if i >= 0 else 0
