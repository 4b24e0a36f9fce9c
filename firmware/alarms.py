"""Alarm manager: latched alarms in two tiers, logged on raise, acknowledgement and clear.

Tiers follow the leading implant and map to IEC 60601-1-8: critical = high priority,
non-critical = medium priority. An alarm stays active (shown in status, listed by the CLI) until the
code that raised it sees its condition gone and clears it. An acknowledgement (`ack`) silences the
tone for SILENCE_CRITICAL_S / SILENCE_NON_CRITICAL_S, never the alarm itself; a new alarm, or the
same condition getting worse (re-raised with escalate=True), sounds again at once.
"""

from micropython import const

from firmware.tones import CRITICAL_PATTERN, CRITICAL_REPEAT_MS, NON_CRITICAL_PATTERN, NON_CRITICAL_REPEAT_MS

CRITICAL = "critical"
NON_CRITICAL = "non-critical"

SILENCE_CRITICAL_S = const(600)          # 10 min: a critical alarm comes back quickly
SILENCE_NON_CRITICAL_S = const(4 * 3600)  # 4 h for a non-critical one

# an active alarm's entry: [raised at (wall s), tier, silenced until (wall s; 0: never silenced)]
_RAISED_S = const(0)
_TIER = const(1)
_SILENCED_UNTIL_S = const(2)

TIERS = {
    "LOW_RESERVOIR": NON_CRITICAL,
    "EMPTY_RESERVOIR": CRITICAL,
    "MOTOR_STALL": CRITICAL,
    "OCCLUSION": CRITICAL,
    "DISCONNECT": CRITICAL,
    "BATTERY_ERI": NON_CRITICAL,
    "BATTERY_EOS": CRITICAL,
    "MEMORY_ERROR": CRITICAL,       # raised non-critical when no settings were lost
    "OVERDELIVERY_GUARD": CRITICAL,
    "INTERNAL_FAULT": CRITICAL,
}


class Alarms:
    def __init__(self, log, player, clock):
        self._log = log
        self._player = player
        self._clock = clock
        self.active = {}       # code -> entry [_RAISED_S, _TIER, _SILENCED_UNTIL_S]
        self._sounding = None  # tier whose pattern is playing, or None

    def raise_alarm(self, code, t_s, detail=None, tier=None, escalate=False):
        """Raise `code` (or re-sound it if escalate). Returns True if newly raised or escalated."""
        tier = tier or TIERS.get(code, CRITICAL)
        entry = self.active.get(code)
        if entry is not None:
            if not escalate and not (tier == CRITICAL and entry[_TIER] != CRITICAL):
                return False
            entry[_TIER] = CRITICAL if CRITICAL in (tier, entry[_TIER]) else tier
            entry[_SILENCED_UNTIL_S] = 0
            kind = "alarm_escalate"
        else:
            self.active[code] = [t_s, tier, 0]
            kind = "alarm_raise"
        data = {"code": code, "tier": self.active[code][_TIER]}
        if detail:
            data["detail"] = detail
        self._log.add(t_s, kind, data)
        self.update_sound(t_s)
        return True

    def clear(self, code, t_s):
        if code not in self.active:
            return False
        del self.active[code]
        self._log.add(t_s, "alarm_clear", {"code": code})
        self.update_sound(t_s)
        return True

    def ack(self, t_s):
        """Silence the tones of every active alarm for its tier's silence time. Returns the codes."""
        codes = []
        for code, entry in self.active.items():
            silence_s = SILENCE_CRITICAL_S if entry[_TIER] == CRITICAL else SILENCE_NON_CRITICAL_S
            entry[_SILENCED_UNTIL_S] = t_s + silence_s
            codes.append(code)
        self._log.add(t_s, "alarm_ack", {"codes": codes})
        self.update_sound(t_s)
        return codes

    def is_active(self, code):
        return code in self.active

    def sounding(self, t_s):
        """True if an active alarm is not silenced at wall second t_s (what an ack would silence)."""
        return self.tier_to_sound(t_s) is not None

    def tier_to_sound(self, t_s):
        """The highest tier among active alarms that are not silenced, or None. Allocation-free
        (housekeeping calls it while an alarm is active): a dict's keys are iterated in place, where
        .values() would make a view object each time."""
        tier = None
        active = self.active
        for code in active:
            entry = active[code]
            if entry[_SILENCED_UNTIL_S] <= t_s:
                if entry[_TIER] == CRITICAL:
                    return CRITICAL
                tier = NON_CRITICAL
        return tier

    def next_unsilence_s(self):
        """Wall second at which a silenced alarm sounds again, or None."""
        soonest = None
        for entry in self.active.values():
            until = entry[_SILENCED_UNTIL_S]
            if until and (soonest is None or until < soonest):
                soonest = until
        return soonest

    def update_sound(self, t_s):
        """Make the buzzer play the pattern of the tier that should sound now (housekeeping and on
        every change). Allocation-free when no alarm is active."""
        if not self.active and self._sounding is None:
            return
        tier = self.tier_to_sound(t_s)
        if tier == self._sounding:
            return
        self._sounding = tier
        now = self._clock.ticks_ms()
        if tier == CRITICAL:
            self._player.play(CRITICAL_PATTERN, CRITICAL_REPEAT_MS, now)
        elif tier == NON_CRITICAL:
            self._player.play(NON_CRITICAL_PATTERN, NON_CRITICAL_REPEAT_MS, now)
        else:
            self._player.stop()

    def self_test(self):
        """Sound each pattern once (clinic follow-up check); the alarms' own sound resumes after."""
        self._sounding = None
        self._player.play(CRITICAL_PATTERN, 0, self._clock.ticks_ms())
        self._player.queue(NON_CRITICAL_PATTERN, 0)

    def summary(self, t_s):
        return [{"code": c, "tier": e[_TIER], "since_s": e[_RAISED_S], "silenced": e[_SILENCED_UNTIL_S] > t_s}
                for c, e in self.active.items()]
