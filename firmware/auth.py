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

On a board (not the simulator) keys.provision refuses every public or weak key for every role
(weak_key): the development keys of any role, and keys with the marks of a made-up one.
"""

import binascii

from micropython import const

from firmware import record, roles
from firmware.authstore import (  # noqa: F401 - CTR_MAX, MAX_JUMP, DEV_SEED, dev_key: this module's API too
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
    weak_key,
)
from firmware.errors import (
    E_ARG_MISSING,
    E_ARG_RANGE,
    E_ARG_TYPE,
    E_ARG_UNKNOWN,
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
from firmware.params import begin, only
from firmware.ratelog import RateLog

MAX_FAILURES = const(5)
WINDOW_S = const(60)
LOCKOUT_S = const(300)
LOG_PER_WINDOW = const(5)
LOG_WINDOW_S = const(600)
PROVISION = "keys.provision"
_BENCH = const(2)                  # roles.ROLES.index(roles.BENCH)


def _hex_key(value, role):
    try:
        if isinstance(value, str) and len(value) == 2 * KEY_BYTES and value == value.lower():
            return binascii.unhexlify(value)
    except ValueError:
        pass
    raise CommandError(E_ARG_TYPE, "key for '%s' must be 64 lowercase hex characters" % role)


class Auth(KeyStore):
    def __init__(self, pump):
        self._pump = pump
        self.max_failures = MAX_FAILURES   # tests and the fuzz may change these three
        self.window_s = WINDOW_S
        self.lockout_s = LOCKOUT_S
        self._init_store()
        self.failures = 0
        self._window_start = 0
        self._fail_log = RateLog(pump, "auth_fail", LOG_WINDOW_S, LOG_PER_WINDOW)
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
        self._log("keys", {"by": by, "roles": self._names(keys), "rekeyed": self._names(keys)})

    # --- the gate ---------------------------------------------------------------------------------
    def check(self, cmd, req, role, ctr, body, mac):
        """Let the request through, or raise CommandError. On success `verified_role` is the signer
        (None for a public command or the first provisioning on the bench)."""
        self.verified_role = None
        pump = self._pump
        bench = pump.hw.bench is not None
        if roles.needs_bench(cmd) and not bench:
            self._fail(pump.timebase.mono_s(), E_BENCH_DISABLED, "'%s' needs a bench (simulator or bench jumper)"
                       % cmd[:40], cmd, role)
        if roles.is_public(cmd):
            return
        now = pump.timebase.mono_s()
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

    def _log(self, kind, data):
        pump = self._pump
        pump.log.add(pump.timebase.wall_s, kind, data)

    # --- commands -----------------------------------------------------------------------------------
    def _names(self, keys):
        return [roles.ROLES[i] for i in range(len(roles.ROLES)) if keys[i] is not None]

    def state(self, req):
        only(req)
        now = self._pump.timebase.mono_s()
        locked = self._locked(now)
        return {
            "roles": {roles.ROLES[i]: {"key": self.keys[i] is not None, "ctr": self.ctr[i]}
                      for i in range(len(roles.ROLES))},
            "bench": self._pump.hw.bench is not None,
            "record": ("ok", "missing", "corrupt")[self.record_status],
            "locked_s": self._locked_until - now if locked else 0,
            "failures": self.failures,
            "limits": {"max_failures": self.max_failures, "window_s": self.window_s,
                       "lockout_s": self.lockout_s, "max_jump": MAX_JUMP, "rollover_ctr": ROLLOVER_CTR,
                       "reset_ctr": RESET_CTR, "ctr_lease": CTR_LEASE,
                       "ctr_max": CTR_MAX},
        }

    def provision(self, req):
        """keys: {role: 64 hex | null}. Unsigned (first provisioning on the bench): clinician required,
        all roles set at once. Signed by the clinician: the roles named are re-keyed or removed."""
        only(req, "keys")
        given = req.get("keys")
        if not isinstance(given, dict) or not given:
            raise CommandError(E_ARG_TYPE, "'keys' must be an object {role: 64 hex chars or null}")
        signer = self.verified_role
        keys = list(self.keys) if signer is not None else [None, None, None]
        sim = self._pump.hw.board == "sim"
        for name in given:
            i = roles.index(name)
            if i < 0:
                raise CommandError(E_ARG_UNKNOWN, "unknown role '%s'" % str(name)[:20])
            value = given[name]
            if value is None:
                keys[i] = None
                continue
            key = _hex_key(value, name)
            if key == self.keys[i]:
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
        ctrs = list(self.ctr)
        saved = list(self._saved)
        changed = [i for i in range(len(keys)) if keys[i] != self.keys[i]]
        reset = []
        if signer is None:
            # first provisioning, maybe after a damaged key record: the keys may be the old ones, so
            # every counter starts at the high-water mark, above every frame ever accepted
            for i in range(len(ctrs)):
                ctrs[i] = saved[i] = max(ctrs[i], saved[i], self.mark[i])
        else:
            for i in changed:
                if ctrs[i] > RESET_CTR and keys[i] is not None:   # a fresh key (the record is intact)
                    ctrs[i] = saved[i] = 0
                    reset.append(i)
        begin(self._pump)
        try:
            self._write(keys, saved)
        except OSError as exc:
            self._storage_failed(exc)
            raise CommandError(E_STORAGE, "keys could not be saved (%r): nothing changed" % (exc,))
        self._set(keys, ctrs)
        if reset:     # lower the mark of a re-keyed role too (a power cut first keeps it high: safe side)
            marks = list(self.mark)
            for i in reset:
                marks[i] = saved[i]
            try:
                self._write_mark(marks)
            except OSError as exc:
                self._storage_failed(exc)
        self.record_status = record.OK
        rekeyed = [roles.ROLES[i] for i in changed]
        self._log("keys", {"by": signer or "bench", "roles": self._names(keys), "rekeyed": rekeyed})
        return {"roles": self._names(keys), "rekeyed": rekeyed,
                "ctr": {roles.ROLES[i]: ctrs[i] for i in range(len(roles.ROLES))}}


def _state_cmd(pump, req):
    return pump.protocol.auth.state(req)


def _provision_cmd(pump, req):
    return pump.protocol.auth.provision(req)


COMMANDS = {"keys.state": _state_cmd, PROVISION: _provision_cmd}
