"""Protocol fuzz kit: a seeded mutator of recorded frames and a harness that feeds garbage to a
delivering simulator at random virtual instants. Plain Python for CPython and MicroPython alike.

The seeds are frames the pump has already accepted (so any exact copy is a replay), frames signed
with a wrong key, and unsigned ones. The harness checks, batch by batch, that every line got exactly
one reply, that no reply is E_INTERNAL, that the pump never entered its safe state; run() returns
what the caller compares with a run without garbage: step times, events, settings, counters.
"""

import json

from helpers import ok

from firmware import commands

WRONG_KEY = b"\x5a" * 32
_TOKENS = (b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b"~", b"\n", b"\r", b"\x00", b"\xff", b"\xc3",
           b"\xe2\x82", b"\xed\xa0\x80", b"NaN", b"Infinity", b"1e999", b"-0", b"null", b"true", b'"\\ud800"',
           b"9" * 40, b"\t", b" ", b'"role": "clinician"', b'"ctr": 1073741823', b'"cmd": "program"', b"[" * 700,
           b'{"cmd": "log", "limit": 64}', b'{"cmd": "keys.provision", "keys": {}}')
_MAX_LINE = 1024
# Every line must be answered within the step that delivered it. Today up to 4 lines are served per
# wake-up and the loop sleeps on the UART alone, so complete lines already read into the LineReader's
# chunk wait until the next deadline (steps, housekeeping): found by this fuzz, fix pending in
# firmware/app.py (Pump._deadline: return now while the reader holds a complete line). Until then the
# harness checks that such lines are answered by the end of the run and counts the late steps.
STRICT_LATENCY = True
PUBLIC_FRAMES = (b'{"id": 1, "cmd": "status"}', b'{"id": 2, "cmd": "log", "since": 0, "limit": 8}',
                 b'{"id": 3, "cmd": "keys.state"}', b'{"id": 4, "cmd": "info"}')


class Rng:
    """xorshift32: the same sequence on every interpreter."""

    def __init__(self, seed):
        self.state = (seed & 0xFFFFFFFF) or 1

    def next(self):
        s = self.state
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.state = s
        return s

    def below(self, n):
        return self.next() % n


def _span(rng, n):
    a = rng.below(n + 1)
    return a, a + rng.below(n - a + 1)


_SAFE_OPS = (7, 8, 9, 10, 14, 15, 16)   # edits that keep the body valid JSON: they reach the auth checks


def mutate(rng, frame, pool):
    """1..3 random edits of `frame` (bytes without its newline); half the frames get only edits
    that keep the JSON well formed."""
    data = frame
    safe = rng.below(2)
    for _ in range(1 + rng.below(3)):
        n = len(data)
        op = _SAFE_OPS[rng.below(len(_SAFE_OPS))] if safe else rng.below(17)
        if op == 0 and n:                                   # flip one bit
            i = rng.below(n)
            data = data[:i] + bytes([data[i] ^ (1 << rng.below(8))]) + data[i + 1:]
        elif op == 1 and n:                                 # replace a byte
            i = rng.below(n)
            data = data[:i] + bytes([rng.below(256)]) + data[i + 1:]
        elif op == 2:                                       # insert a token
            i = rng.below(n + 1)
            data = data[:i] + _TOKENS[rng.below(len(_TOKENS))] + data[i:]
        elif op == 3 and n:                                 # delete a span
            a, b = _span(rng, n)
            data = data[:a] + data[b:]
        elif op == 4 and n:                                 # truncate
            data = data[:rng.below(n)]
        elif op == 5 and n:                                 # duplicate a span
            a, b = _span(rng, n)
            data = data[:b] + data[a:b] + data[b:]
        elif op == 6:                                       # splice with another frame
            other = pool[rng.below(len(pool))]
            data = data[:rng.below(n + 1)] + other[rng.below(len(other) + 1):]
        elif op == 7 and n > 66 and data[-65] == 0x7E:      # change one MAC hex digit
            i = n - 1 - rng.below(64)
            data = data[:i] + b"0123456789abcdef"[rng.below(16):][:1] + data[i + 1:]
        elif op == 8 and n > 66 and data[-65] == 0x7E:      # strip the MAC, or move another frame's onto it
            other = pool[rng.below(len(pool))]
            data = data[:-65] + (other[-65:] if rng.below(2) else b"")
        elif op == 9:                                       # bump a digit (ctr, dose, id)
            digits = [i for i in range(n) if 48 <= data[i] <= 57]
            if digits:
                i = digits[rng.below(len(digits))]
                data = data[:i] + bytes([48 + rng.below(10)]) + data[i + 1:]
        elif op == 10:                                      # swap the role name
            for a, b in ((b"clinician", b"patient"), (b"patient", b"bench"), (b"bench", b"clinician")):
                if a in data:
                    data = data.replace(a, b, 1)
                    break
        elif op == 11:                                      # random bytes
            data = bytes(rng.below(256) for _ in range(rng.below(80)))
        elif op == 12:                                      # longer than a frame
            data = data + b"x" * (_MAX_LINE + rng.below(200))
        elif op == 13:                                      # upper-case everything
            data = data.upper()
        elif op == 15 and data[:1] == b"{":                 # add an argument
            extra = (b'"confirm": true, ', b'"dry_run": true, ', b'"x": [1, {}], ', b'"ctr": 0, ',
                     b'"role": null, ', b'"id": "\\u00e9", ', b'"keys": {"bench": null}, ')
            data = b"{" + extra[rng.below(len(extra))] + data[1:]
        elif op == 16:                                      # another role's signed counter
            data = data.replace(b'"ctr": ', b'"ctr": 1', 1)
        else:                                               # replay as is
            pass
    return data


def expected_replies(data, carry):
    """(replies the firmware owes for `data` after `carry` bytes of an unfinished line, new carry)."""
    count = 0
    length = carry
    for b in data:
        if b == 10 or b == 13:
            if length:
                count += 1
            length = 0
        else:
            length += 1
    return count, length


class Harness:
    """Drives `sim` through virtual time in random gaps, optionally pushing garbage at each stop."""

    def __init__(self, sim, seed):
        self.sim = sim
        self.rng = Rng(seed)
        self.frames = 0
        self.replies = 0
        self.accepted = 0
        self.codes = {}
        self.carry = 0
        self.owed = 0
        self.late_steps = 0
        self.events = []
        real_add = sim.pump.log.add

        def add(t_s, kind, data=None):
            self.events.append((t_s, kind, data))
            return real_add(t_s, kind, data)
        sim.pump.log.add = add

    def step(self, until_ms, lines):
        sim = self.sim
        if lines:
            data = b"".join(lines)
            owed, self.carry = expected_replies(data, self.carry)
            sim.serial.push(data)
            self.frames += len(lines)
        else:
            owed = 0
        if sim.clock.horizon_ms is None or sim.clock.horizon_ms < until_ms:
            sim.clock.horizon_ms = until_ms
        sim.run_to_horizon()
        self.owed += owed
        got = 0
        for line in sim.serial.take_output().split(b"\n"):
            if not line:
                continue
            msg = json.loads(line)
            if "notice" in msg:
                sim.notices.append(msg)
                continue
            got += 1
            if msg["ok"]:
                self.accepted += 1
            else:
                code = msg["error"]
                assert code != "E_INTERNAL", msg
                self.codes[code] = self.codes.get(code, 0) + 1
        self.replies += got
        assert self.replies <= self.owed, "%d replies for %d lines" % (self.replies, self.owed)
        if self.replies < self.owed:
            self.late_steps += 1
            assert not STRICT_LATENCY, "%d lines left unanswered at the horizon" % (self.owed - self.replies)
        assert not sim.serial.any(), "input left unread at the horizon: the loop stalled"
        assert not sim.pump.safe, "the pump went to its safe state"


def setup_frames(sim):
    """Programme a delivering pump through signed frames; return the frames (all accepted)."""
    sent = []

    def send(cmd, args, role="clinician"):
        frame = sim.frame(cmd, args, role)
        ok(sim.request_raw(frame))
        sent.append(frame[:-1])

    send("refill", {"drug": "baclofen", "conc_mcg_ml": 500, "volume_ml": 20})
    sim.mock_pump.fill(20_000_000_000)
    send("set", {"demand": {"dose_mcg": 50, "duration_s": 600, "lockout_s": 3600, "max_per_day": 4}})
    send("set", {"nl_per_step": 50}, "bench")
    send("program", {"mode": "continuous", "dose_mcg_day": 1000})        # 2 mL/day: a step every 2.16 s
    send("demand", {}, "patient")
    send("ack", {}, "patient")
    send("sim.pump", {}, "bench")
    send("selftest", {})
    return sent


def forged_frames(sim):
    """Frames with fresh counters under a wrong key, and unsigned ones."""
    out = []
    for cmd, args, role in (("program", {"mode": "stopped"}, "clinician"),
                            ("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 1}, "clinician"),
                            ("demand", {}, "patient"), ("sim.run", {"until_s": 99999}, "bench"),
                            ("keys.provision", {"keys": {"clinician": "ab" * 32}}, "clinician")):
        ctr = sim.pump.protocol.auth.last_ctr(role) + 1
        out.append(sim.frame(cmd, args, role, ctr=ctr, key=WRONG_KEY)[:-1])
        out.append(sim.frame(cmd, args, None)[:-1])
    # genuine signatures the gate refuses: a role's forbidden command, counters stale, beyond the
    # maximum, or already used
    last = sim.pump.protocol.auth.last_ctr("clinician")
    out.append(sim.frame("program", {"mode": "stopped"}, "patient")[:-1])
    out.append(sim.frame("refill", {"drug": "baclofen", "conc_mcg_ml": 50, "volume_ml": 1}, "bench")[:-1])
    for ctr in (last + (1 << 21), 1 << 30, last, 0):
        out.append(sim.frame("program", {"mode": "stopped"}, "clinician", ctr=ctr)[:-1])
    return out


def snapshot(sim):
    """Everything garbage must not change (wakeups excepted: input wakes the loop). Read in process,
    not over the line, so that no reply the harness is waiting for is consumed here."""
    st = commands.status(sim.pump, {})
    st.pop("wakeups")
    config = sorted(sim.pump.config.__dict__.items())
    auth = sim.pump.protocol.auth
    return st, config, list(auth.ctr), list(auth.keys)


def run(make, frames, seed, garbage=True, batch=8, max_gap_ms=3000, lockout_after=None):
    """Set up a delivering pump, then stop at ceil(frames / batch) random virtual instants and push a
    batch of mutated frames at each (garbage=False: the same instants, nothing pushed). Ends 10 min
    after the last stop. Returns the harness; its sim's mock pump has recorded every step time."""
    sim = make()
    pool = setup_frames(sim) + forged_frames(sim) + list(PUBLIC_FRAMES)
    sim.mock_pump.record_steps(sim.clock)
    h = Harness(sim, seed)
    if garbage:
        sim.pump.protocol.auth.max_failures = 1 << 30    # no lockout first: reach the deep checks
    gaps = Rng(seed ^ 0x5EED)
    t_ms = sim.clock.elapsed_ms
    sent = 0
    while sent < frames:
        t_ms += gaps.below(max_gap_ms)
        lines = []
        for _ in range(min(batch, frames - sent)):
            line = mutate(h.rng, pool[h.rng.below(len(pool))], pool) if garbage else None
            lines.append(line + (b"\n" if h.rng.below(16) else b"") if garbage else None)
        sent += len(lines)
        if lockout_after is not None and sent >= lockout_after:
            sim.pump.protocol.auth.max_failures = 5
        h.step(t_ms, lines if garbage else [])
    h.step(t_ms + 600_000, [b"\n"] if garbage else [])
    assert h.replies == h.owed, "%d lines never answered" % (h.owed - h.replies)
    return h
