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

The gate, its counters and the lockout are resident; the keys.state and keys.provision commands are
in firmware/cmd_keys.py, loaded on demand. On a board (not the simulator) keys.provision refuses every
public or weak key for every role (weak_key): the development keys of any role, and keys with the
marks of a made-up one (firmware/cmd_keys.py weak_key).
"""

from micropython import const

from firmware import record, roles
from firmware.authstore import (  # noqa: F401 - the constants, DEV_SEED and dev_key: this module's API too
    CTR_LEASE,
    CTR_MAX,
    DEV_SEED,
    KEY_BYTES,
    MAX_JUMP,
    RESET_CTR,
    ROLLOVER_CTR,
    KeyStore,
    _lease,
    dev_key,
    key_roles,
)
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
from firmware.hmac_sha256 import equal
from firmware.ratelog import RateLog

MAX_FAILURES = const(5)
WINDOW_S = const(60)
LOCKOUT_S = const(300)
LOG_PER_WINDOW = const(5)
LOG_WINDOW_S = const(600)
PROVISION = "keys.provision"
_BENCH = roles.index(roles.BENCH)  # the bench role's key slot


class Auth(KeyStore):
    def __init__(self, hw, log, timebase, status):
        """hw: the Hardware (storage, bench); log: the EventLog; timebase: wall_s for the records,
        mono_s() for the windows; status: storage_ok() / storage_failed(what, exc) (firmware/store.py)."""
        self._hw = hw
        self._events = log
        self._timebase = timebase
        self._status = status
        self.max_failures = MAX_FAILURES   # tests and the fuzz may change these three
        self.window_s = WINDOW_S
        self.lockout_s = LOCKOUT_S
        self._init_store()
        self.failures = 0
        self._window_start = 0
        self._fail_log = RateLog(log, timebase, "auth_fail", LOG_WINDOW_S, LOG_PER_WINDOW)
        self._locked_until = None
        self._refused_locked = 0
        self.verified_role = None          # role of the frame the gate let through last (None: unsigned)
        self.record_status = self._load()  # record.OK / MISSING / CORRUPT (unreadable counts as CORRUPT)
        self._load_logged = False

    def install(self, keys_by_role, by):
        """Store keys directly (the simulator's development keys at start). Counters are kept, and
        never below the high-water mark (a damaged key record may have lost them)."""
        keys = [keys_by_role.get(role) for role in roles.ROLES]
        self._save(keys, [max(self.ctr[i], self.mark[i]) for i in range(len(roles.ROLES))])
        self.record_status = record.OK
        self._log("keys", {"by": by, "roles": key_roles(keys), "rekeyed": key_roles(keys)})

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
        i = roles.index(role)
        if i < 0:
            self._fail(now, E_AUTH_ROLE, "unknown role (use %s)" % ", ".join(roles.ROLES), cmd, None)
        if self.keys[i] is None:
            why = " (the key record is damaged: provision again on the bench)" if (
                self.record_status == record.CORRUPT) else ""
            self._fail(now, E_AUTH_ROLE, "no key is provisioned for role '%s'%s" % (role, why), cmd, role)
        if i == _BENCH and not bench:
            self._fail(now, E_BENCH_DISABLED, "the bench role needs a bench (simulator or bench jumper)", cmd, role)
        if not equal(self._macs[i].hexdigest(body), mac):
            self._fail(now, E_AUTH_MAC, "MAC does not match (key, role or body bytes differ)", cmd, role)
        if not roles.allowed(role, cmd, req):
            self._fail(now, E_AUTH_FORBIDDEN, "role '%s' may not send '%s'" % (role, cmd[:40]), cmd, role)
        if ctr is None:
            self._fail(now, E_ARG_MISSING, "signed frame without 'ctr'", cmd, role)
        if isinstance(ctr, bool) or not isinstance(ctr, int):
            self._fail(now, E_ARG_TYPE, "'ctr' must be an integer 1..%d" % CTR_MAX, cmd, role)
        last = self.ctr[i]
        if ctr > CTR_MAX:
            self._fail(now, E_AUTH_ROLLOVER, "'ctr' beyond %d: re-key role '%s'" % (CTR_MAX, role), cmd, role)
        if ctr <= last:
            self._fail(now, E_AUTH_REPLAY, "counter %d is not above the last accepted %d" % (ctr, last), cmd, role)
        if ctr - last > MAX_JUMP:
            self._fail(now, E_AUTH_STALE, "counter %d is more than %d ahead of %d" % (ctr, MAX_JUMP, last), cmd, role)
        if ctr >= ROLLOVER_CTR and cmd != PROVISION:
            self._fail(now, E_AUTH_ROLLOVER, "role '%s' has used its counters: re-key it (keys.provision)" % role,
                       cmd, role)
        # write-ahead: the counter is reserved on flash before the command runs
        self.ctr[i] = ctr   # consumed in RAM even if the write fails: no replay until the next reset
        if ctr > self._saved[i]:
            saved = list(self._saved)
            saved[i] = _lease(ctr)
            try:
                self._write(self.keys, saved)
            except OSError as exc:
                self._storage_failed(exc)
                if not roles.needs_bench(cmd):   # bench commands act on the simulator's mocks only
                    self._fail_log.add({"error": E_STORAGE, "cmd": cmd[:24], "role": role})
                    raise CommandError(E_STORAGE, "the replay counter could not be saved (%r): refused" % (exc,))
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
        count of failures suppressed in a window that is over."""
        self._locked(now)
        self._fail_log.flush(now)

    def locked_s(self, now):
        """Seconds of a lockout still to run at monotonic second `now` (0: none; an ended lockout is
        logged now)."""
        return self._locked_until - now if self._locked(now) else 0

    def _log(self, kind, data):
        self._events.add(self._timebase.wall_s, kind, data)
