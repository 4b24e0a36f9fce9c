"""Authentication of commands: per-role keys, HMAC-SHA256 frames, replay counters, rate limiting.

A command that is not public (firmware/roles.py) must arrive as a signed frame:

    BODY "~" MAC        MAC = 64 lowercase hex chars of HMAC-SHA256(key of BODY's "role", BODY bytes)

BODY is the JSON request and carries "role" and "ctr". The pump keeps, per role, the last accepted
counter; a frame is accepted only with last < ctr <= last + MAX_JUMP. The new counter is written to
flash BEFORE the command runs (write-ahead), so no frame can run twice, not even across a reset or a
power cut in the middle of the command. A frame is consumed even if the command then refuses its
arguments: a refused command can never be replayed later, when it might be accepted.

Counters run 1 .. CTR_MAX (2**30 - 1, a small int on a board). The last 1024 values (from
ROLLOVER_CTR) are reserved for keys.provision: a role that reaches ROLLOVER_CTR must be re-keyed
(E_AUTH_ROLLOVER). Re-keying a role whose counter is past RESET_CTR (2**29) restarts it at 0;
otherwise counters carry on across a re-key, so frames recorded under any earlier key stay replays.

Failures (every E_AUTH_* refusal and E_BENCH_DISABLED) are counted in a window of `window_s`
(60 s); the first LOG_PER_WINDOW of a window are logged one by one ("auth_fail"), later ones as one
"auth_fail_suppressed" count, so a flood cannot wear the flash log. At `max_failures` (5) in a
window every authenticated command is refused with E_AUTH_RATE_LIMIT for `lockout_s` (300 s,
monotonic time: setting the clock does not shorten it); public reads keep working. The refusals
during a lockout are logged as one count when it ends. Failures and lockouts are not persisted.

Keys and counters live in one atomic record ("auth", firmware/record.py): 3 slots of
<B32sI> (key present, key, last counter) in the order of roles.ROLES.
"""

import binascii
import hashlib
import struct

from micropython import const

from firmware import record, roles
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
from firmware.hmac_sha256 import Hmac, equal
from firmware.params import only

CTR_MAX = const(0x3FFFFFFF)        # 2**30 - 1
ROLLOVER_CTR = const(0x3FFFFC00)   # 2**30 - 1024: from here on only keys.provision is accepted
RESET_CTR = const(0x20000000)      # 2**29: re-keying a role past this restarts its counter at 0
MAX_JUMP = const(0x100000)         # 2**20: a counter further ahead is refused (E_AUTH_STALE)
MAX_FAILURES = const(5)
WINDOW_S = const(60)
LOCKOUT_S = const(300)
LOG_PER_WINDOW = const(5)
KEY_BYTES = const(32)
RECORD = "auth"
PROVISION = "keys.provision"
_SLOT = "<B32sI"
_SLOT_LEN = const(37)
_BENCH = const(2)                  # roles.ROLES.index(roles.BENCH)
# Development keys: the simulator's only (public seed, see boards/sim/board.py). A board refuses them.
DEV_SEED = b"micro-dosing pump simulator development key (public, never on a board): "


def dev_key(role):
    return hashlib.sha256(DEV_SEED + role.encode()).digest()


def _hex_key(value, role):
    try:
        if isinstance(value, str) and len(value) == 2 * KEY_BYTES and value == value.lower():
            return binascii.unhexlify(value)
    except ValueError:
        pass
    raise CommandError(E_ARG_TYPE, "key for '%s' must be 64 lowercase hex characters" % role)


class Auth:
    def __init__(self, pump):
        self._pump = pump
        self.max_failures = MAX_FAILURES   # tests and the fuzz may change these three
        self.window_s = WINDOW_S
        self.lockout_s = LOCKOUT_S
        self.keys = [None, None, None]
        self.ctr = [0, 0, 0]
        self._macs = [None, None, None]
        self._seq = 0
        self.failures = 0
        self._window_start = 0
        self._suppressed = 0
        self._locked_until = None
        self._refused_locked = 0
        self.verified_role = None          # role of the frame the gate let through last (None: unsigned)
        self.record_status = self._load()  # record.OK / MISSING / CORRUPT (unreadable counts as CORRUPT)
        self._load_logged = False

    # --- persistence ------------------------------------------------------------------------------
    def _load(self):
        try:
            status, seq, payload = record.load(self._pump.hw.storage, RECORD)
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
        self._set(keys, ctrs)
        return record.OK

    def _set(self, keys, ctrs):
        self.keys = keys
        self.ctr = ctrs
        self._macs = [Hmac(k) if k is not None else None for k in keys]

    def _save(self, keys, ctrs):
        """Write keys and counters atomically, then adopt them. Raises OSError (nothing adopted)."""
        payload = b""
        for i in range(len(roles.ROLES)):
            key = keys[i]
            payload += struct.pack(_SLOT, 1 if key is not None else 0, key or bytes(KEY_BYTES), ctrs[i])
        seq = (self._seq + 1) & 0x3FFFFFFF
        record.save(self._pump.hw.storage, RECORD, seq, payload)
        self._seq = seq
        self._set(keys, ctrs)
        ok = getattr(self._pump, "_storage_ok", None)
        if ok is not None:
            ok()

    def _storage_failed(self, exc):
        failed = getattr(self._pump, "_storage_failed", None)
        if failed is not None:
            failed("auth counters", exc)

    def provisioned(self):
        return self.keys[0] is not None

    def last_ctr(self, role):
        i = roles.index(role)
        return self.ctr[i] if i >= 0 else 0

    def install(self, keys_by_role, by):
        """Store keys directly (the simulator's development keys at start). Counters are kept."""
        keys = [keys_by_role.get(role) for role in roles.ROLES]
        self._save(keys, list(self.ctr))
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
        if self._locked(now):
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
        # write-ahead: the counter is on flash before the command runs
        ctrs = list(self.ctr)
        ctrs[i] = ctr
        try:
            self._save(self.keys, ctrs)
        except OSError as exc:
            self.ctr[i] = ctr   # consumed in RAM all the same: no replay until the next reset
            self._storage_failed(exc)
            if not roles.needs_bench(cmd):   # bench commands act on the simulator's mocks only
                self._log("auth_fail", {"error": E_STORAGE, "cmd": cmd[:24], "role": role})
                raise CommandError(E_STORAGE, "the replay counter could not be saved (%r): refused" % (exc,))
        self.verified_role = role

    def _note_load(self, now):
        if not self._load_logged:
            self._load_logged = True
            if self.record_status == record.CORRUPT:
                self._log("auth_record_lost", None)

    # --- failures and the rate limit ----------------------------------------------------------------
    def _fail(self, now, code, msg, cmd, role):
        if now < self._window_start or now - self._window_start >= self.window_s:
            if self._suppressed:
                self._log("auth_fail_suppressed", {"count": self._suppressed})
                self._suppressed = 0
            self._window_start = now
            self.failures = 0
        self.failures += 1
        if self.failures <= LOG_PER_WINDOW:
            self._log("auth_fail", {"error": code, "cmd": cmd[:24], "role": role if roles.index(role) >= 0 else None})
        else:
            self._suppressed += 1
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
                       "reset_ctr": RESET_CTR,
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
            if not sim and key == dev_key(name):
                raise CommandError(E_ARG_RANGE, "the simulator's development key cannot go on a board")
            keys[i] = key
        if keys[0] is None:
            raise CommandError(E_ARG_MISSING, "a clinician key is required")
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                if keys[a] is not None and keys[a] == keys[b]:
                    raise CommandError(E_ARG_RANGE, "each role needs its own key")
        ctrs = list(self.ctr)
        changed = [i for i in range(len(keys)) if keys[i] != self.keys[i]]
        for i in changed:
            if ctrs[i] > RESET_CTR and keys[i] is not None:
                ctrs[i] = 0
        try:
            self._save(keys, ctrs)
        except OSError as exc:
            self._storage_failed(exc)
            raise CommandError(E_STORAGE, "keys could not be saved (%r): nothing changed" % (exc,))
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
