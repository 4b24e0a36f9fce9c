"""The calibration's plausibility bound and the step the over-delivery guard counts with.

Every pump has a nominal hardware step (`Config.nominal_step_pl`, pL: the board's default calibration,
changed only on the bench, e.g. when another pump head is fitted). A calibration (`nl_per_step`) must
stay within STEP_TOLERANCE_PCT of it: tubing wear and a weighed run move it by a few per cent; a step
50 times too small (`nl_per_step 1` on a 50 nL pump) is a typing error that would pump 50 times the
dose, and is refused. The guard converts volumes into pulses with the calibration, but never with less
than the band's lowest step, so no calibration can raise its ceiling above what the nominal hardware
allows (issue 13, item 5).
"""

from micropython import const

STEP_TOLERANCE_PCT = const(25)      # a calibration within +/- 25 % of the nominal step
MIN_STEP_PL = const(1000)           # the `set` range of a step: 1 nL .. 10 uL
MAX_STEP_PL = const(10_000_000)


def plausible(step_pl, nominal_pl):
    """True if step_pl is within STEP_TOLERANCE_PCT of nominal_pl (both in pL, < 2**30 / 100)."""
    diff = step_pl - nominal_pl if step_pl > nominal_pl else nominal_pl - step_pl
    return diff * 100 <= nominal_pl * STEP_TOLERANCE_PCT


def lowest_pl(nominal_pl):
    """The smallest plausible step (pL): the guard never counts with less."""
    return nominal_pl * (100 - STEP_TOLERANCE_PCT) // 100


def guard_step_pl(step_pl, nominal_pl):
    """The step the guard converts a volume into pulses with: the calibration, or the band's lowest
    step if the calibration is below it (a smaller step would raise the guard's ceiling)."""
    low = lowest_pl(nominal_pl)
    return step_pl if step_pl > low else low


def guard_pulses(volume_pl, step_pl, nominal_pl):
    """Pulses the guard allows for volume_pl (rounded up). Off the step path (may use long ints)."""
    step = guard_step_pl(step_pl, nominal_pl)
    return (volume_pl + step - 1) // step
