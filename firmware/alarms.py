"""Alarm manager: latched alarms with two tiers, logged on raise and clear.

Tiers follow the leading implant; they map to IEC 60601-1-8 priorities: critical = high,
non-critical = medium. An alarm stays active until its condition is cleared by the code that raised it.
"""

CRITICAL = "critical"
NON_CRITICAL = "non-critical"

TIERS = {
    "LOW_RESERVOIR": NON_CRITICAL,
    "EMPTY_RESERVOIR": CRITICAL,
    "MOTOR_STALL": CRITICAL,
    "OCCLUSION": CRITICAL,
    "BATTERY_ERI": NON_CRITICAL,
    "BATTERY_EOS": CRITICAL,
    "MEMORY_ERROR": CRITICAL,
    "OVERDELIVERY_GUARD": CRITICAL,
    "INTERNAL_FAULT": CRITICAL,
}


class Alarms:
    def __init__(self, log):
        self._log = log
        self.active = {}  # code -> t_s raised

    def raise_alarm(self, code, t_s, detail=None):
        """Raise `code` unless already active. Returns True if newly raised."""
        if code in self.active:
            return False
        self.active[code] = t_s
        data = {"code": code, "tier": TIERS.get(code, CRITICAL)}
        if detail:
            data["detail"] = detail
        self._log.add(t_s, "alarm_raise", data)
        return True

    def clear(self, code, t_s):
        if code not in self.active:
            return False
        del self.active[code]
        self._log.add(t_s, "alarm_clear", {"code": code})
        return True

    def is_active(self, code):
        return code in self.active

    def summary(self):
        return [{"code": c, "tier": TIERS.get(c, CRITICAL), "since_s": t} for c, t in self.active.items()]
