"""Buzzer pattern player: IEC 60601-1-8 style alarm signals on the PWM buzzer HAL.

Patterns are preallocated tuples of (duration_ms, freq_hz) segments; freq 0 is silence.
- critical (IEC high priority): two bursts of 5 pulses, two-tone (880/660 Hz), 100 ms on / 100 ms off,
  400 ms between bursts (about 2.3 s), repeated every 10 s while unacknowledged;
- non-critical (IEC medium priority): 3 pulses at 660 Hz, 200 ms on / 150 ms off (about 0.9 s),
  repeated every 30 s while unacknowledged.
The main loop asks next_ticks() for the tone deadline and calls service(now) when it is due.
"""

from micropython import const

_HI = const(880)
_LO = const(660)
_PULSE_HI = const(100)
_GAP_HI = const(100)
_BURST_GAP = const(400)

CRITICAL_PATTERN = (
    (_PULSE_HI, _HI), (_GAP_HI, 0), (_PULSE_HI, _LO), (_GAP_HI, 0), (_PULSE_HI, _HI), (_GAP_HI, 0),
    (_PULSE_HI, _LO), (_GAP_HI, 0), (_PULSE_HI, _HI), (_BURST_GAP, 0),
    (_PULSE_HI, _HI), (_GAP_HI, 0), (_PULSE_HI, _LO), (_GAP_HI, 0), (_PULSE_HI, _HI), (_GAP_HI, 0),
    (_PULSE_HI, _LO), (_GAP_HI, 0), (_PULSE_HI, _HI), (1, 0),
)
NON_CRITICAL_PATTERN = ((200, _LO), (150, 0), (200, _LO), (150, 0), (200, _LO), (1, 0))
CRITICAL_REPEAT_MS = const(10_000)
NON_CRITICAL_REPEAT_MS = const(30_000)


class TonePlayer:
    def __init__(self, clock, buzzer):
        self._clock = clock
        self._buzzer = buzzer
        self._pattern = None      # the pattern now playing, or None
        self._index = 0
        self._next = 0            # ticks of the next segment change
        self._repeat_ms = 0       # 0: play once
        self._start = 0           # ticks at which the current repetition began
        self._queue = None        # (pattern, repeat_ms) to play after a one-shot (self-test)
        self._starting = False    # play() was called: the pattern starts at the next service()
        self.playing = False

    def play(self, pattern, repeat_ms, now_ticks):
        """Play `pattern`, repeated every repeat_ms (0: once), from the next service(): the main loop
        calls it at the end of its pass with the clock read then, so the work of the pass that raised
        the alarm (a commit, the journal, code loaded from flash) delays the first tone a little but
        never stretches a pulse. Until then next_ticks() is now_ticks (due at once)."""
        self._pattern = pattern
        self._repeat_ms = repeat_ms
        self._index = 0
        self._next = now_ticks
        self._starting = True
        self.playing = True

    def queue(self, pattern, repeat_ms):
        self._queue = (pattern, repeat_ms)

    def stop(self):
        self._pattern = None
        self._queue = None
        self._starting = False
        self.playing = False
        self._buzzer.off()

    def next_ticks(self):
        return self._next if self.playing else None

    def service(self, now_ticks):
        """Advance the pattern to `now_ticks`. Allocation-free. The last segment of a pattern is its
        closing silence: the pattern ends (and its repetition is scheduled) as that segment starts,
        so the end costs no wake-up of its own."""
        clock = self._clock
        if self._starting:            # play() was called: the pattern starts now
            self._starting = False
            self._next = now_ticks
        while self.playing and clock.ticks_diff(now_ticks, self._next) >= 0:
            pattern = self._pattern
            duration, freq = pattern[self._index]
            if self._index == 0:
                self._start = self._next
            if freq:
                self._buzzer.tone(freq)
            else:
                self._buzzer.off()
            self._index += 1
            self._next = clock.ticks_add(self._next, duration)
            if self._index >= len(pattern):
                self._end()

    def _end(self):
        """The pattern has played: repeat it, start the queued one, or stop."""
        self._index = 0
        if self._repeat_ms:
            self._next = self._clock.ticks_add(self._start, self._repeat_ms)
            return
        if self._queue is not None:
            self._pattern, self._repeat_ms = self._queue
            self._queue = None
            return
        self.playing = False
        self._pattern = None
