"""Authentication of commands: per-role keys, HMAC-SHA256 frames, replay counters, rate limiting.

A command that is not public (firmware/roles.py) must arrive as a signed frame:

    BODY "~" MAC        MAC = 64 lowercase hex chars of HMAC-SHA256(key of BODY's "role", BODY bytes)

BODY is the JSON request and carries "role" and "ctr". The pump keeps, per role, the last accepted
counter; a frame is accepted only with last < ctr <= last + MAX_JUMP. The counter is reserved on
flash BEFORE the command runs (write-ahead, in leases of CTR_LEASE: firmware/authstore.py), so no
frame can run twice, not even across a reset or a power cut in the middle of the command. A frame is
consumed even if the command then refuses its arguments: a refused command can never be replayed
later, when it might be accepted. After a damaged key record the first provisioning starts every
counter at a high-water mark kept in a second record (authstore.py), so the same keys provisioned
again cannot let an old recorded frame run.

Counters run 1 .. CTR_MAX (2**30 - 1, a small int on a board). The last 1024 values (from
ROLLOVER_CTR) are reserved for keys.provision: a role that reaches ROLLOVER_CTR must be re-keyed
(E_AUTH_ROLLOVER). Re-keying a role whose counter is past RESET_CTR (2**29) restarts it at 0;
otherwise counters carry on across a re-key, so frames recorded under any earlier key stay replays.

Failures (every E_AUTH_* refusal and E_BENCH_DISABLED) are counted in a window of `window_s`
(60 s). They are logged through a bounded log (firmware/ratelog.py): the first LOG_PER_WINDOW of
every LOG_WINDOW_S (10 min) one by one ("auth_fail"), later ones as one "auth_fail_suppressed" count
per code, so a flood cannot wear the flash (docs/protocol.md, flash wear). At `max_failures` (5) in a
window every authenticated command is refused with E_AUTH_RATE_LIMIT for `lockout_s` (300 s,
monotonic time: setting the clock does not shorten it); public reads keep working. Every refusal
during a lockout, whatever its code, is only counted: it neither extends the lockout nor starts a new
one, and the count is logged once when the lockout ends. Bench commands (sim.*, fault.*, which exist
only with a bench) are not held by a lockout, so that the simulator's virtual time (sim.run) can run
it out; they are checked as ever. Failures and lockouts are not persisted.

The gate, its counters and the lockout are resident; loaded on demand (firmware/lazy.py): the key
record's codec (firmware/authstore.py: at boot, for a counter reservation, for a re-key), the HMAC
(firmware/hmac_sha256.py, for a signed frame) and the keys.state and keys.provision commands
(firmware/cmd_keys.py). On a board (not the simulator) keys.provision refuses every
public or weak key for every role (weak_key): the development keys of any role, and keys with the
marks of a made-up one (firmware/cmd_keys.py weak_key).
"""

import hashlib

from micropython import const

from firmware import lazy, record, roles
from firmware.errors import E_AUTH_RATE_LIMIT, E_AUTH_REQUIRED, E_BENCH_DISABLED, E_STORAGE, CommandError
from firmware.ratelog import RateLog

CTR_MAX = const(0x3FFFFFFF)        # 2**30 - 1
ROLLOVER_CTR = const(0x3FFFFC00)   # 2**30 - 1024: from here on only keys.provision is accepted
RESET_CTR = const(0x20000000)      # 2**29: re-keying a role past this restarts its counter at 0
MAX_JUMP = const(0x100000)         # 2**20: a counter further ahead is refused (E_AUTH_STALE)
CTR_LEASE = const(64)              # counters reserved on flash by one write (one write per 64 frames)
KEY_BYTES = const(32)
# Development keys: the simulator's only (public seed, see boards/sim/board.py). A board refuses them.
DEV_SEED = b"micro-dosing pump simulator development key (public, never on a board): "
MAX_FAILURES = const(5)
WINDOW_S = const(60)
LOCKOUT_S = const(300)
LOG_PER_WINDOW = const(5)
LOG_WINDOW_S = const(600)
PROVISION = "keys.provision"


def dev_key(role):
    """The simulator's public development key of `role`."""
    return hashlib.sha256(DEV_SEED + role.encode()).digest()


def _store():
    """firmware/authstore.py, the key record's codec: loaded when a record is read or written."""
    return lazy.module("authstore")


class Auth:
    def __init__(self, hw, log, timebase, status, evict=False):
        """hw: the Hardware (storage, bench); log: the EventLog; timebase: wall_s for the records,
        mono_s() for the windows; status: storage_ok() / storage_failed(what, exc) (firmware/store.py);
        evict: the key record's codec leaves RAM after the boot's read (Config.evict_handlers)."""
        self._hw = hw
        self._events = log
        self._timebase = timebase
        self._status = status
        self.max_failures = MAX_FAILURES   # tests and the fuzz may change these three
        self.window_s = WINDOW_S
        self.lockout_s = LOCKOUT_S
        self.keys = [None, None, None]
        self.ctr = [0, 0, 0]               # last accepted counter per role (RAM, exact)
        self._saved = [0, 0, 0]            # reservation on flash per role: >= ctr
        self._seq = 0
        self.mark = [0, 0, 0]              # high-water mark on flash per role: >= every reservation
        self._mark_seq = 0
        self.failures = 0
        self._window_start = 0
        self._fail_log = RateLog(log, timebase, "auth_fail", LOG_WINDOW_S, LOG_PER_WINDOW)
        self._locked_until = None
        self._refused_locked = 0
        self.verified_role = None          # role of the frame the gate let through last (None: unsigned)
        self._evict = evict
        keep = lazy.mark()
        try:
            self.record_status = self._load()  # record.OK / MISSING / CORRUPT (unreadable counts as CORRUPT)
        finally:
            self._drop(keep)
        self._load_logged = False

    def _drop(self, keep):
        """The end of a job of the key record or the MAC: its code leaves RAM (firmware/lazy.py)."""
        if self._evict:
            lazy.drop(keep)

    def install(self, keys_by_role, by):
        """Store keys directly (the simulator's development keys at start). Counters are kept, and
        never below the high-water mark (a damaged key record may have lost them)."""
        keys = [keys_by_role.get(role) for role in roles.ROLES]
        keep = lazy.mark()
        try:
            self._save(keys, [max(self.ctr[i], self.mark[i]) for i in range(len(roles.ROLES))])
            names = _store().key_roles(keys)
        finally:
            self._drop(keep)
        self.record_status = record.OK
        self._log("keys", {"by": by, "roles": names, "rekeyed": list(names)})

    # --- the key record (firmware/authstore.py) ------------------------------------------------------
    def _load(self):
        store = _store()
        mark = store.load_mark(self._hw.storage)
        if mark is not None:
            self._mark_seq, self.mark = mark
        status, seq, keys, ctrs = store.load(self._hw.storage)
        if status == record.OK:
            self._seq = seq
            self._saved = list(ctrs)
            self.keys = keys            # after a reset every reserved counter counts as used
            self.ctr = ctrs
        return status

    def _write_mark(self, marks):
        self._mark_seq = _store().write_mark(self._hw.storage, self._mark_seq, marks)
        self.mark = list(marks)

    def _write(self, keys, saved):
        """Write keys and counter reservations atomically, the mark first (the mark on flash is never
        below a reservation on flash). Raises OSError."""
        store = _store()
        marks = store.covering(self.mark, saved)
        if marks is not None:
            self._write_mark(marks)
        self._seq = store.write_keys(self._hw.storage, self._seq, keys, saved)
        self._saved = list(saved)
        self._status.storage_ok()

    def _save(self, keys, ctrs):
        """Write keys and counters atomically, then adopt them (each counter its own reservation).
        Raises OSError (nothing adopted)."""
        self._write(keys, ctrs)
        self.keys = keys
        self.ctr = list(ctrs)

    def _storage_failed(self, exc):
        self._status.storage_failed("auth counters", exc)

    def rekey(self, keys, first):
        """Store `keys` (one per role in roles.ROLES order, None: no key) and adopt them; returns the
        indices of the roles whose key changed. Counters: authstore.rekeyed_counters (first: the
        unsigned first provisioning starts every counter at the high-water mark). A counter restarted
        at 0 lowers its mark too, after the key record (a power cut before that write keeps the mark
        high: the safe side). OSError if the key record cannot be written: nothing changed."""
        keep = lazy.mark()
        try:
            ctrs, saved, changed, reset = _store().rekeyed_counters(self.keys, keys, self.ctr, self._saved,
                                                                    self.mark, first)
            try:
                self._write(keys, saved)
            except OSError as exc:
                self._storage_failed(exc)
                raise
            self.keys = keys
            self.ctr = ctrs
            if reset:
                marks = list(self.mark)
                for i in reset:
                    marks[i] = saved[i]
                try:
                    self._write_mark(marks)
                except OSError as exc:
                    self._storage_failed(exc)
        finally:
            self._drop(keep)
        self.record_status = record.OK
        return changed

    def provisioned(self):
        return self.keys[0] is not None

    def last_ctr(self, role):
        i = roles.index(role)
        return self.ctr[i] if i >= 0 else 0

    # --- the gate ---------------------------------------------------------------------------------
    def check(self, cmd, req, role, ctr, body, mac):
        """Let the request through, or raise CommandError. On success `verified_role` is the signer
        (None for a public command or the first provisioning on the bench)."""
        self.verified_role = None
        bench = self._hw.bench is not None
        if roles.needs_bench(cmd) and not bench:
            self._fail(self._timebase.mono_s(), E_BENCH_DISABLED, "'%s' needs a bench (simulator or bench jumper)"
                       % cmd[:40], cmd, role)
        if roles.is_public(cmd):
            return
        now = self._timebase.mono_s()
        self._note_load(now)
        if self._locked(now) and not (bench and roles.needs_bench(cmd)):
            self._refused_locked += 1
            raise CommandError(E_AUTH_RATE_LIMIT, "too many authentication failures: authenticated commands "
                                                  "refused for %d s more" % (self._locked_until - now))
        if mac is None:
            if cmd == PROVISION and not self.provisioned():
                if bench:
                    return   # first provisioning: unsigned, on the bench, while no keys are stored
                self._fail(now, E_BENCH_DISABLED, "the first provisioning needs the bench jumper", cmd, role)
            self._fail(now, E_AUTH_REQUIRED, "'%s' needs a signed frame: BODY~MAC with role and ctr" % cmd[:40],
                       cmd, role)
        keep = lazy.mark()
        try:
            store = _store()
            refused = store.refusal(self, cmd, req, role, ctr, body, mac, bench)
            if refused is None:
                # write-ahead: the counter is reserved on flash before the command runs
                i = roles.index(role)
                self.ctr[i] = ctr   # consumed in RAM even if the write fails: no replay until the next reset
                if ctr > self._saved[i]:
                    saved = list(self._saved)
                    saved[i] = store.lease(ctr)
                    try:
                        self._write(self.keys, saved)
                    except OSError as exc:
                        self._storage_failed(exc)
                        if not roles.needs_bench(cmd):   # bench commands act on the simulator's mocks only
                            self._fail_log.add({"error": E_STORAGE, "cmd": cmd[:24], "role": role})
                            raise CommandError(E_STORAGE, "the replay counter could not be saved (%r): refused"
                                               % (exc,))
        finally:
            self._drop(keep)
        if refused is not None:
            self._fail(now, refused[0], refused[1], cmd, refused[2])
        self.verified_role = role

    def _note_load(self, now):
        if not self._load_logged:
            self._load_logged = True
            if self.record_status == record.CORRUPT:
                self._log("auth_record_lost", None)

    # --- failures and the rate limit ----------------------------------------------------------------
    def _fail(self, now, code, msg, cmd, role):
        if self._locked(now):   # during a lockout: counted, never a new or longer lockout
            self._refused_locked += 1
            raise CommandError(code, msg)
        if now < self._window_start or now - self._window_start >= self.window_s:
            self._window_start = now
            self.failures = 0
        self.failures += 1
        self._fail_log.add({"error": code, "cmd": cmd[:24], "role": role if roles.index(role) >= 0 else None})
        if self.failures >= self.max_failures:
            self._locked_until = now + self.lockout_s
            self.failures = 0
            self._window_start = now
            self._log("auth_lockout", {"lockout_s": self.lockout_s})
        raise CommandError(code, msg)

    def _locked(self, now):
        until = self._locked_until
        if until is None:
            return False
        if now < until and until - now <= self.lockout_s:
            return True
        self._locked_until = None
        self._log("auth_lockout_end", {"refused": self._refused_locked})
        self._refused_locked = 0
        return False

    def housekeeping(self, now):
        """Write what a quiet link would leave pending: the end of a lockout that is over, and the
        count of failures suppressed in a window that is over. True while a lockout or a window
        stays open (housekeeping must come back), False when neither is."""
        locked = self._locked(now)
        return self._fail_log.flush(now) or locked

    def locked_s(self, now):
        """Seconds of a lockout still to run at monotonic second `now` (0: none; an ended lockout is
        logged now)."""
        return self._locked_until - now if self._locked(now) else 0

    def _log(self, kind, data):
        self._events.add(self._timebase.wall_s, kind, data)
