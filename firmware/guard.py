"""Over-delivery guard: an independent check that the motor never pumps more than the prescription
allows in any rolling 24 h, whatever the scheduler believes.

It shares no state with the planners or the accounts. It knows only:
- the 24 h allowance in pulses, handed to it by value when the prescription changes
  (basal maximum + allowed demand boluses), plus one-off grants for a clinician bolus or prime, and
  for the part of an old allowance that a decrease took away; a grant lasts as long as the pulses it
  allows can stay in the window: its delivery time + 24 h + one bucket;
- the stepper HAL's own pulse counter (pulses_sent), which it reads itself.
Every time it takes or keeps is monotonic seconds (mono_s: firmware/timebase.py, the wall clock less the
host's corrections), so setting the clock can neither empty the window nor make a grant last longer.
Pulses are counted in 96 buckets of 15 min (a preallocated ring), so the window is the last 24 h to
within 15 min, rounded towards counting MORE pulses (the bucket being filled is always included).
Trip: count > allowance + margin, margin = allowance // 10 + 20 pulses. On a trip the guard disables
the stepper driver itself and reports; it never re-enables it. Only a new prescription whose limit the
window is within clears a trip (`review`, called by the programme command).

Counted and assumed pulses are kept apart (issue 13, item 4). After a reset the pulses sent between the
last journal and the power cut were never counted; when the time off is known (the RTC kept time) the
journal's reserve, cut to what the top rate could push in that time, is ASSUMED sent: it stands for
time inside the window and counts against the limit until it has left the window (boot + 24 h + one
bucket). When the time off is unknown the clock resumes at the journal's time, so the window never sees
the time those pulses took: the window then spans that much more real time than 24 h, and nothing is
assumed. Assumptions are never written into the counted buckets, so a journal written after a reset
does not turn one boot's assumption into the next boot's count, and short cuts cannot add up to a trip.
"""

from micropython import const

_COUNT_HALF = const(0x20000000)   # HAL pulse counters wrap at 2**30 (hal.interfaces.counter_diff,
                                  # written out in check(): it runs on every wake-up)
_BUCKETS = const(96)
_BUCKET_S = const(900)
_GRANTS = const(8)
_ASSUMED = const(4)
_DAY_S = const(86400)


class OverdeliveryGuard:
    def __init__(self, stepper, mono_s):
        self._stepper = stepper
        self._last_pulses = stepper.pulses_sent()
        self._buckets = [0] * _BUCKETS
        self._bucket_index = 0
        self._bucket_start_s = mono_s - mono_s % _BUCKET_S
        self._base_allowance = 0
        self._grant_pulses = [0] * _GRANTS
        self._grant_expiry_s = [0] * _GRANTS
        self._assumed_pulses = [0] * _ASSUMED     # pulses assumed sent while nobody counted (resets)
        self._assumed_expiry_s = [0] * _ASSUMED
        self.tripped = False
        self.window_pulses = 0
        self._limit = 20              # cached limit() less the assumed pulses; recomputed on every change
                                      # and expiry
        self._limit_until_s = 0       # mono second at which the cached limit must be recomputed

    def set_allowance(self, pulses_24h, mono_s):
        """The prescription's own 24 h allowance, in pulses (given by value). After a decrease the
        window still holds pulses the old prescription allowed, so the difference stays allowed for
        24 h (the limit over any window spanning a change is at most the larger allowance)."""
        if pulses_24h < self._base_allowance:
            self.grant(self._base_allowance - pulses_24h, mono_s, 0)
        self._base_allowance = pulses_24h
        self._limit_until_s = 0

    def grant(self, pulses, mono_s, duration_s):
        """Allow `pulses` more (a clinician bolus, prime or calibration run delivered over the next
        `duration_s` seconds) until the last of them has left the window: mono_s + duration_s + 24 h
        + one bucket (the window reaches back up to one bucket more than 24 h)."""
        _add_slot(self._grant_pulses, self._grant_expiry_s, pulses, mono_s + duration_s + _DAY_S + _BUCKET_S,
                  mono_s)
        self._limit_until_s = 0

    def assume(self, pulses, mono_s):
        """After a reset whose time off is known: `pulses` may have been sent, uncounted, before the
        power went; they count against the limit until they have left the window (mono_s + 24 h +
        one bucket, mono_s being the boot, at or after their last one)."""
        if pulses > 0:
            _add_slot(self._assumed_pulses, self._assumed_expiry_s, pulses, mono_s + _DAY_S + _BUCKET_S, mono_s)
            self._limit_until_s = 0

    def allowance(self, mono_s):
        return self._base_allowance + _live(self._grant_pulses, self._grant_expiry_s, mono_s)

    def assumed(self, mono_s):
        """Pulses assumed sent (not counted) that are still in the window."""
        return _live(self._assumed_pulses, self._assumed_expiry_s, mono_s)

    def review(self, mono_s):
        """After a new prescription: clear a trip if the window is within the new limit. True if it
        cleared one (the caller re-enables delivery through the stop mask)."""
        if self.window_pulses + self.assumed(mono_s) <= self.limit(mono_s):
            self.tripped = False
            return True
        return False

    def snapshot(self):
        """The counted window, the grants and the assumptions (kept apart), for the journal."""
        return [self._bucket_start_s, self._bucket_index, self.tripped, list(self._buckets),
                list(self._grant_pulses), list(self._grant_expiry_s), list(self._assumed_pulses),
                list(self._assumed_expiry_s)]

    def restore(self, snap, assumed_pulses, mono_s):
        """After a reset: the window, grants and assumptions as journalled, plus `assumed_pulses` that
        may have been sent since the journal (0 when the time off is unknown: see the module doc).
        The pulse counter of the new boot is the new baseline. A snapshot of an older firmware (no
        assumptions) is read too."""
        self._bucket_start_s, self._bucket_index, self.tripped, buckets, pulses, expiry = snap[:6]
        for i in range(_BUCKETS):
            self._buckets[i] = buckets[i]
        for i in range(_GRANTS):
            self._grant_pulses[i] = pulses[i]
            self._grant_expiry_s[i] = expiry[i]
        if len(snap) >= 8:
            for i in range(_ASSUMED):
                self._assumed_pulses[i] = snap[6][i]
                self._assumed_expiry_s[i] = snap[7][i]
        self.window_pulses = sum(self._buckets)
        self._last_pulses = self._stepper.pulses_sent()
        self.assume(assumed_pulses, mono_s)
        self._limit_until_s = 0

    def _refresh_limit(self, mono_s):
        # the cached limit leaves room for the assumed pulses only: check() compares counted pulses
        self._limit = self.limit(mono_s) - self.assumed(mono_s)
        self._limit_until_s = _next_expiry(self._assumed_expiry_s, mono_s,
                                           _next_expiry(self._grant_expiry_s, mono_s, mono_s + _DAY_S))

    def limit(self, mono_s):
        allowance = self.allowance(mono_s)
        return allowance + allowance // 10 + 20

    def _roll(self, mono_s):
        """Move the window on to the bucket holding mono_s, emptying the buckets it passes."""
        if mono_s - self._bucket_start_s >= _DAY_S:         # a day or more without a check: new window
            for i in range(_BUCKETS):
                self._buckets[i] = 0
            self.window_pulses = 0
            self._bucket_start_s = mono_s - mono_s % _BUCKET_S
        while mono_s - self._bucket_start_s >= _BUCKET_S:
            self._bucket_index = (self._bucket_index + 1) % _BUCKETS
            self.window_pulses -= self._buckets[self._bucket_index]
            self._buckets[self._bucket_index] = 0
            self._bucket_start_s += _BUCKET_S

    def check(self, mono_s):
        """Count the pulses sent since the last check; True if the guard trips now. Allocation-free
        while the window does not roll (called every wake-up)."""
        pulses = self._stepper.pulses_sent()
        new = pulses - self._last_pulses          # counter_diff written out in small ints (hal/interfaces.py)
        if new >= _COUNT_HALF:
            new = new - _COUNT_HALF - _COUNT_HALF
        elif new < -_COUNT_HALF:
            new = new + _COUNT_HALF + _COUNT_HALF
        self._last_pulses = pulses
        if mono_s - self._bucket_start_s >= _BUCKET_S:      # once per 15 min
            self._roll(mono_s)
        if new > 0:
            self._buckets[self._bucket_index] += new
            self.window_pulses += new
        if mono_s >= self._limit_until_s:
            self._refresh_limit(mono_s)
        if not self.tripped and self.window_pulses > self._limit:
            self.tripped = True
            self._stepper.enable(False)
            return True
        return False


def _add_slot(pulses_list, expiry_list, pulses, expiry_s, mono_s):
    """Put (pulses, expiry_s) in a free (expired) slot; all in use: fold into the newest, which then
    lasts as long as both."""
    newest = 0
    for i in range(len(expiry_list)):
        if expiry_list[i] <= mono_s:
            pulses_list[i] = pulses
            expiry_list[i] = expiry_s
            return
        if expiry_list[i] > expiry_list[newest]:
            newest = i
    pulses_list[newest] += pulses
    if expiry_s > expiry_list[newest]:
        expiry_list[newest] = expiry_s


def _live(pulses_list, expiry_list, mono_s):
    """Sum of the slots not yet expired at mono_s."""
    total = 0
    for i in range(len(expiry_list)):
        if expiry_list[i] > mono_s:
            total += pulses_list[i]
    return total


def _next_expiry(expiry_list, mono_s, until):
    """The earliest expiry after mono_s and before `until`, else `until` (allocation-free)."""
    for i in range(len(expiry_list)):
        expiry = expiry_list[i]
        if mono_s < expiry < until:
            until = expiry
    return until
