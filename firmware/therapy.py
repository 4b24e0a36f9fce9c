"""Prescription -> basal rate in whole nL/day.

Rate arithmetic: volume/day = dose/day / concentration. With the dose in ng/day and the
concentration in mcg/mL (= ng/uL), rate_nl_day = dose_ng_day * 1000 // conc_mcg_ml, rounded DOWN to
the whole nL/day (never over: the loss is < 1 nL/day, < 0.001 % at intrathecal rates).
"""

STOPPED = "stopped"
CONTINUOUS = "continuous"

MODES = (STOPPED, CONTINUOUS)


def rate_nl_day(dose_ng_day, conc_mcg_ml):
    if dose_ng_day <= 0 or conc_mcg_ml <= 0:
        return 0
    return dose_ng_day * 1000 // conc_mcg_ml


class Therapy:
    """The programme in force. dose_ng_day is the programmed daily dose (ng/day, integer)."""

    def __init__(self):
        self.mode = STOPPED
        self.dose_ng_day = 0

    def set_continuous(self, dose_ng_day):
        self.mode = CONTINUOUS
        self.dose_ng_day = dose_ng_day

    def stop(self):
        self.mode = STOPPED
        self.dose_ng_day = 0

    def rate_nl_day(self, conc_mcg_ml):
        """Basal rate now."""
        if self.mode == CONTINUOUS:
            return rate_nl_day(self.dose_ng_day, conc_mcg_ml)
        return 0

    def describe(self):
        return {"mode": self.mode, "dose_ng_day": self.dose_ng_day}
