"""Over-delivery guard: an independent check that the motor never pumps more than the prescription
allows in any rolling 24 h, whatever the scheduler believes.

It shares no state with the planners or the accounts. It knows only:
- the 24 h allowance in pulses, handed to it by value when the prescription changes
  (basal maximum + allowed demand boluses), plus one-off grants for a clinician bolus or prime, and
  for the part of an old allowance that a decrease took away; a grant lasts as long as the pulses it
  allows can stay in the window: its delivery time + 24 h + one bucket;
- the stepper HAL's own pulse counter (pulses_sent), which it reads itself.
Pulses are counted in 96 buckets of 15 min (a preallocated ring), so the window is the last 24 h to
within 15 min, rounded towards counting MORE pulses (the bucket being filled is always included).
Trip: count > allowance + margin, margin = allowance // 10 + 20 pulses. On a trip the guard disables
the stepper driver itself and reports; it never re-enables it. Only a new prescription whose limit the
window is within clears a trip (`review`, called by the programme command).
"""

from micropython import const

_COUNT_MASK = const(0x3FFFFFFF)   # HAL pulse counters wrap at 2**30 (hal.interfaces.counter_diff,
_COUNT_HALF = const(0x20000000)   # written out in check(): it runs on every wake-up)
_BUCKETS = const(96)
_BUCKET_S = const(900)
_GRANTS = const(8)
_DAY_S = const(86400)


class OverdeliveryGuard:
    def __init__(self, stepper, wall_s):
        self._stepper = stepper
        self._last_pulses = stepper.pulses_sent()
        self._buckets = [0] * _BUCKETS
        self._bucket_index = 0
        self._bucket_start_s = wall_s - wall_s % _BUCKET_S
        self._base_allowance = 0
        self._grant_pulses = [0] * _GRANTS
        self._grant_expiry_s = [0] * _GRANTS
        self.tripped = False
        self.window_pulses = 0
        self._limit = 20              # cached limit(); recomputed on every change and grant expiry
        self._limit_until_s = 0       # mono second at which the cached limit must be recomputed

    def set_allowance(self, pulses_24h, wall_s):
        """The prescription's own 24 h allowance, in pulses (given by value). After a decrease the
        window still holds pulses the old prescription allowed, so the difference stays allowed for
        24 h (the limit over any window spanning a change is at most the larger allowance)."""
        if pulses_24h < self._base_allowance:
            self.grant(self._base_allowance - pulses_24h, wall_s, 0)
        self._base_allowance = pulses_24h
        self._limit_until_s = 0

    def grant(self, pulses, wall_s, duration_s):
        """Allow `pulses` more (a clinician bolus, prime or calibration run delivered over the next
        `duration_s` seconds) until the last of them has left the window: wall_s + duration_s + 24 h
        + one bucket (the window reaches back up to one bucket more than 24 h)."""
        expiry_s = wall_s + duration_s + _DAY_S + _BUCKET_S
        slot = -1
        newest = 0
        for i in range(_GRANTS):
            if self._grant_expiry_s[i] <= wall_s:
                slot = i
                break
            if self._grant_expiry_s[i] > self._grant_expiry_s[newest]:
                newest = i
        if slot < 0:            # all slots in use: fold into the newest grant, which lasts as long as both
            slot = newest
            self._grant_pulses[slot] += pulses
            expiry_s = max(expiry_s, self._grant_expiry_s[slot])
        else:
            self._grant_pulses[slot] = pulses
        self._grant_expiry_s[slot] = expiry_s
        self._limit_until_s = 0

    def allowance(self, wall_s):
        total = self._base_allowance
        for i in range(_GRANTS):
            if self._grant_expiry_s[i] > wall_s:
                total += self._grant_pulses[i]
        return total

    def review(self, wall_s):
        """After a new prescription: clear a trip if the window is within the new limit. True if it
        cleared one (the caller re-enables delivery through the stop mask)."""
        if self.window_pulses <= self.limit(wall_s):
            self.tripped = False
            return True
        return False

    def snapshot(self):
        """The window and grants, for the journal."""
        return [self._bucket_start_s, self._bucket_index, self.tripped, list(self._buckets),
                list(self._grant_pulses), list(self._grant_expiry_s)]

    def restore(self, snap, extra_pulses):
        """After a reset: the window as journalled plus `extra_pulses` assumed sent since (safe side).
        The pulse counter of the new boot is the new baseline."""
        self._bucket_start_s, self._bucket_index, self.tripped, buckets, pulses, expiry = snap
        for i in range(_BUCKETS):
            self._buckets[i] = buckets[i]
        for i in range(_GRANTS):
            self._grant_pulses[i] = pulses[i]
            self._grant_expiry_s[i] = expiry[i]
        self._buckets[self._bucket_index] += extra_pulses
        self.window_pulses = sum(self._buckets)
        self._last_pulses = self._stepper.pulses_sent()
        self._limit_until_s = 0

    def _refresh_limit(self, wall_s):
        self._limit = self.limit(wall_s)
        until = wall_s + _DAY_S
        for i in range(_GRANTS):
            expiry = self._grant_expiry_s[i]
            if wall_s < expiry < until:
                until = expiry
        self._limit_until_s = until

    def limit(self, wall_s):
        allowance = self.allowance(wall_s)
        return allowance + allowance // 10 + 20

    def _roll(self, wall_s):
        """Move the window on to the bucket holding wall_s, emptying the buckets it passes."""
        if wall_s - self._bucket_start_s >= _DAY_S:         # a day or more without a check: new window
            for i in range(_BUCKETS):
                self._buckets[i] = 0
            self.window_pulses = 0
            self._bucket_start_s = wall_s - wall_s % _BUCKET_S
        while wall_s - self._bucket_start_s >= _BUCKET_S:
            self._bucket_index = (self._bucket_index + 1) % _BUCKETS
            self.window_pulses -= self._buckets[self._bucket_index]
            self._buckets[self._bucket_index] = 0
            self._bucket_start_s += _BUCKET_S

    def check(self, wall_s):
        """Count the pulses sent since the last check; True if the guard trips now. Allocation-free
        while the window does not roll (called every wake-up)."""
        pulses = self._stepper.pulses_sent()
        new = ((pulses - self._last_pulses + _COUNT_HALF) & _COUNT_MASK) - _COUNT_HALF
        self._last_pulses = pulses
        if wall_s - self._bucket_start_s >= _BUCKET_S:      # once per 15 min
            self._roll(wall_s)
        if new > 0:
            self._buckets[self._bucket_index] += new
            self.window_pulses += new
        if wall_s >= self._limit_until_s:
            self._refresh_limit(wall_s)
        if not self.tripped and self.window_pulses > self._limit:
            self.tripped = True
            self._stepper.enable(False)
            return True
        return False
