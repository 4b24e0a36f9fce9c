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
(E_AUTH_ROLLOVER). Re-keying a role whose counter is past RESET_CTR (2**29,
firmware/authstore.py) restarts it at 0; otherwise counters carry on across a re-key, so frames
recorded under any earlier key stay replays.

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

Resident (this module): the state, which lives between lines (keys, counters and their
reservations, the failure window and the lockout, with the bounded "auth_fail" log), what
housekeeping runs (the end of a lockout, the log's window) and what the Protocol, the Control and
keys.state read. The code that runs only while a line is served, at boot or for a key command is
loaded on demand (firmware/lazy.py) and on a board leaves RAM after its job: the gate
(firmware/gate.py: check, the checks of a signed frame, with the HMAC of firmware/hmac_sha256.py),
the key record (firmware/authstore.py: its codec, read at boot, the counter leases, install, re-key,
the development keys), the role map (firmware/roles.py) and the keys.state and keys.provision
commands (firmware/cmd_keys.py). That code changes the Auth only through its public methods: adopt,
stored, marked (the key record), accept (a counter consumed), count_failure (a refusal: logged,
counted, maybe a lockout), first_use. On a board (not the simulator) keys.provision refuses every
public or weak key for every role (firmware/cmd_keys.py weak_key): the development keys of any
role, and keys with the marks of a made-up one.
"""

from micropython import const

from firmware import lazy
from firmware.ratelog import RateLog

CTR_MAX = const(0x3FFFFFFF)        # 2**30 - 1
ROLLOVER_CTR = const(0x3FFFFC00)   # 2**30 - 1024: from here on only keys.provision is accepted
MAX_JUMP = const(0x100000)         # 2**20: a counter further ahead is refused (E_AUTH_STALE)
CTR_LEASE = const(64)              # counters reserved on flash by one write (one write per 64 frames)
_MAX_FAILURES = const(5)
_WINDOW_S = const(60)
LOCKOUT_S = const(300)
_LOG_PER_WINDOW = const(5)
LOG_WINDOW_S = const(600)


class Auth:
    def __init__(self, hw, log, timebase, status, evict=False):
        """hw: the Hardware (storage, bench); log: the EventLog; timebase: wall_s for the records,
        mono_s() for the windows; status: storage_ok() / storage_failed(what, exc) (firmware/store.py);
        evict: the on-demand code leaves RAM after each job (Config.evict_handlers). The first four are
        read, never replaced, by the on-demand code."""
        self.hw = hw
        self.events = log
        self.timebase = timebase
        self.storage_status = status
        self.max_failures = _MAX_FAILURES  # tests and the fuzz may change these three
        self.window_s = _WINDOW_S
        self.lockout_s = LOCKOUT_S
        self.keys = [None, None, None]     # per role in roles.ROLES order (None: no key)
        self.ctr = [0, 0, 0]               # last accepted counter per role (RAM, exact)
        self.saved = [0, 0, 0]             # reservation on flash per role: >= ctr
        self.seq = 0                       # the key record's sequence number on flash
        self.mark = [0, 0, 0]              # high-water mark on flash per role: >= every reservation
        self.mark_seq = 0
        self.record_status = None          # record.OK / MISSING / CORRUPT (unreadable counts as CORRUPT)
        self.failures = 0
        self._window_start = 0
        self.fail_log = RateLog(log, timebase, "auth_fail", LOG_WINDOW_S, _LOG_PER_WINDOW)
        self._locked_until = None
        self._refused_locked = 0
        self.verified_role = None          # role of the frame the gate let through last (None: unsigned)
        self._evict = evict
        self._used = False                 # an authenticated command came since boot (first_use)
        self._job("authstore", "restore")

    def _job(self, module, name, *args):
        """firmware/<module>.py's function `name`(self, *args), loaded on demand; on a board (evict) its
        code and all it loaded leave RAM after it (firmware/lazy.py)."""
        return lazy.call(self._evict, module, name, self, *args)

    # --- jobs loaded on demand ----------------------------------------------------------------------
    def check(self, cmd, req, role, ctr, body, mac):
        """Let the request through, or raise CommandError (firmware/gate.py check). On success
        `verified_role` is the signer (None for a public command or the first provisioning on the bench)."""
        self.verified_role = None
        self.verified_role = self._job("gate", "check", cmd, req, role, ctr, body, mac)

    def install(self, keys_by_role, by):
        """Store keys directly (the simulator's development keys at start: firmware/authstore.py install)."""
        self._job("authstore", "install", keys_by_role, by)

    def _save(self, keys, ctrs):
        """Write keys and counters atomically, then adopt them (firmware/authstore.py save)."""
        self._job("authstore", "save", keys, ctrs)

    # --- the narrow interface the on-demand code changes the state through -------------------------
    def adopt(self, keys, ctrs, status):
        """Keys and last accepted counters (one per role), and the key record's status."""
        self.keys = keys
        self.ctr = list(ctrs)
        self.record_status = status

    def stored(self, seq, saved):
        """The key record `seq` on flash holds the reservations `saved` (one per role)."""
        self.seq = seq
        self.saved = list(saved)

    def marked(self, seq, marks):
        """The high-water mark record `seq` on flash holds `marks` (one per role)."""
        self.mark_seq = seq
        self.mark = list(marks)

    def accept(self, i, ctr):
        """Role i's frame with counter `ctr` passed the gate: consumed (in RAM, even if its
        reservation cannot be written: no replay until the next reset)."""
        self.ctr[i] = ctr

    def first_use(self):
        """True at the first authenticated command since boot, then False."""
        first = not self._used
        self._used = True
        return first

    def count_failure(self, now, data):
        """A refusal at monotonic second `now`. During a lockout it is only counted: never a new or
        longer lockout. Otherwise it is logged through the bounded "auth_fail" log (`data`: a dict
        with "error") and counted in its window of window_s, and the max_failures-th of a window
        starts a lockout of lockout_s."""
        if self._locked(now):
            self._refused_locked += 1
            return
        if now < self._window_start or now - self._window_start >= self.window_s:
            self._window_start = now
            self.failures = 0
        self.failures += 1
        self.fail_log.add(data)
        if self.failures >= self.max_failures:
            self._locked_until = now + self.lockout_s
            self.failures = 0
            self._window_start = now
            self._log("auth_lockout", {"lockout_s": self.lockout_s})

    # --- what the resident code reads and runs --------------------------------------------------------
    def provisioned(self):
        return self.keys[0] is not None

    def last_ctr(self, role):
        """The last accepted counter of `role` (0 for a name that is no role): the simulator's signer."""
        i = lazy.module("roles").index(role)
        return self.ctr[i] if i >= 0 else 0

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
        return self.fail_log.flush(now) or locked

    def locked_s(self, now):
        """Seconds of a lockout still to run at monotonic second `now` (0: none; an ended lockout is
        logged now)."""
        return self._locked_until - now if self._locked(now) else 0

    def _log(self, kind, data):
        self.events.add(self.timebase.wall_s, kind, data)
