"""Accounting: integer volumes with remainders, reservoir estimate, mass across concentrations."""

from helpers import raises, small_int

from firmware.accounting import Accounting


def test_step_volume_with_remainder_adds_up_exactly():
    acct = Accounting(48_731)           # 48.731 nL per step
    acct.refill("baclofen", 2000, 20_000_000)
    for _ in range(10_000):
        acct.on_step()
    assert acct.delivered_pl() == 487_310_000
    assert acct.reservoir_pl() == 20_000_000_000 - 487_310_000
    assert acct.steps == 10_000


def test_mass_follows_concentration_changes():
    acct = Accounting(50_000)
    acct.refill("baclofen", 2000, 20_000_000)
    for _ in range(1000):               # 50 uL at 2000 mcg/mL = 100 mcg
        acct.on_step()
    acct.refill("baclofen", 500, 20_000_000)
    for _ in range(1000):               # 50 uL at 500 mcg/mL = 25 mcg
        acct.on_step()
    assert acct.delivered_pg() == 125_000_000
    assert acct.delivered_pl() == 100_000_000


def test_calibration_change_banks_volume():
    acct = Accounting(50_000)
    acct.refill("baclofen", 2000, 20_000_000)
    for _ in range(3):
        acct.on_step()
    acct.set_step_pl(40_001)
    for _ in range(3):
        acct.on_step()
    assert acct.delivered_pl() == 150_000 + 120_003
    assert acct.reservoir_pl() == 20_000_000_000 - 270_003


def test_counters_stay_small_for_seven_years_at_high_dose():
    # 2 mL/day for 7 years = 5.1 L: the lifetime total exceeds 2**30 nL, the counters must not
    acct = Accounting(1_000_000)        # 1 uL per step keeps the loop short
    acct.refill("baclofen", 500, 40_000_000)
    days = 7 * 365
    for day in range(days):
        for _ in range(2000):
            acct.on_step()
        if day % 20 == 19:
            acct.refill("baclofen", 500, 40_000_000)
    assert acct.delivered_pl() == days * 2000 * 1_000_000
    for value in (acct.fill_nl, acct._bank_ul, acct._bank_pl, acct._bank_mcg, acct._bank_pg,
                  acct.reservoir_nl, acct.steps):
        assert small_int(value), value


def _delivered(step_pl, steps, volume_nl=20_000_000, conc=2000):
    acct = Accounting(step_pl)
    acct.refill("baclofen", conc, volume_nl)
    for _ in range(steps):
        acct.on_step()
    return acct


def test_snapshot_has_the_journal_layout_and_values():
    # 1234 steps of 48.731 nL = 60 134 054 pL = 60 134 nL + 54 pL delivered;
    # 20 mL - 60 134 054 pL = 19 939 865 946 pL = 19 939 866 nL owing 54 pL
    acct = _delivered(48_731, 1234)
    assert acct.snapshot() == {"res": [19_939_866, 54], "fill": [60_134, 54], "bank": [0, 0, 0, 0],
                               "steps": 1234}
    # a refill banks the fill: 60 134 054 pL = 60 uL + 134 054 pL; at 2000 mcg/mL (2 pg per pL)
    # 120 268 108 pg = 120 mcg + 268 108 pg
    acct.refill("baclofen", 500, 10_000_000)
    assert acct.snapshot() == {"res": [10_000_000, 0], "fill": [0, 0], "bank": [60, 134_054, 120, 268_108],
                               "steps": 1234}


def test_snapshot_restore_round_trip_gives_the_same_counts():
    acct = _delivered(48_731, 2500)
    acct.refill("baclofen", 500, 15_000_000)
    for _ in range(777):
        acct.on_step()
    other = Accounting(48_731)
    other.set_drug("baclofen", 500)
    other.restore(acct.snapshot())
    assert other.snapshot() == acct.snapshot()
    for name in ("delivered_pl", "delivered_pg", "reservoir_pl", "delivered_ul"):
        assert getattr(other, name)() == getattr(acct, name)(), name
    for _ in range(500):          # and they go on counting alike
        acct.on_step()
        other.on_step()
    assert other.snapshot() == acct.snapshot()


def test_restore_refuses_a_malformed_journal_and_changes_nothing():
    good = _delivered(48_731, 10).snapshot()
    acct = _delivered(50_000, 3)
    before = acct.snapshot()
    cases = (
        (KeyError, {k: v for k, v in good.items() if k != "bank"}),
        (ValueError, dict(good, res=[1, 2, 3])),
        (ValueError, dict(good, fill=[5])),
        (TypeError, dict(good, steps=None)),
        (TypeError, dict(good, bank=7)),
        (TypeError, dict(good, res=[19_000_000, 0.5])),
        (TypeError, dict(good, fill=[True, 0])),
        (ValueError, dict(good, res=[19_000_000, 1000])),      # a remainder is 0..999 pL
        (ValueError, dict(good, bank=[1, 1_000_000, 0, 0])),   # 0..999 999 pL
        (ValueError, dict(good, bank=[1, 0, 0, -1])),
        (ValueError, dict(good, fill=[1 << 30, 0])),           # not a board's small int
        (ValueError, dict(good, steps=-1)),
    )
    for exc, bad in cases:
        raises(exc, acct.restore, bad)
        assert acct.snapshot() == before, bad


def test_consume_pl_counts_like_steps_and_stops_at_empty():
    # 7 x 48.731 nL by steps and by one consume_pl of the same pL: the same counts (steps apart)
    stepped = _delivered(48_731, 7)
    consumed = _delivered(48_731, 0)
    consumed.consume_pl(7 * 48_731)
    assert consumed.snapshot() == dict(stepped.snapshot(), steps=0)
    assert consumed.reservoir_pl() == 20_000_000_000 - 341_117
    # more than is left: the estimate stops at 0 nL, the fill counts all of it
    small = _delivered(48_731, 0, volume_nl=100)
    small.consume_pl(250_500)
    assert small.snapshot()["res"] == [0, 0] and small.snapshot()["fill"] == [250, 500]


def test_delivered_ul_is_the_floor_of_the_exact_volume():
    # 999 500 pL banked (one step of 999.5 nL, then a recalibration) and one step of 0.6 nL:
    # 1 000 100 pL = 1 uL (the nL of the bank and the pL of the fill make the last nL together)
    acct = Accounting(999_500)
    acct.refill("baclofen", 2000, 20_000_000)
    acct.on_step()
    acct.set_step_pl(600)
    assert acct.delivered_ul() == 0
    acct.on_step()
    assert acct.delivered_pl() == 1_000_100 and acct.delivered_ul() == 1
    for _ in range(1_665):       # + 999 000 pL = 1 999 100 pL: still 1 uL
        acct.on_step()
    assert acct.delivered_ul() == 1
    acct.on_step()               # 1 999 700 pL
    acct.on_step()               # 2 000 300 pL
    assert acct.delivered_ul() == 2


def test_set_drug_and_set_reservoir_nl():
    acct = _delivered(48_731, 3)
    acct.set_drug(None, 0)
    assert acct.drug is None and acct.conc_mcg_ml == 0
    assert acct.delivered_pl() == 146_193                 # the counts are not touched
    acct.set_drug("morphine", 10_000)
    acct.set_reservoir_nl(2_000_000)
    assert acct.snapshot()["res"] == [2_000_000, 0] and acct.reservoir_pl() == 2_000_000_000
    # the fill's 146 193 pL at 10 000 mcg/mL = 1 461 930 pg
    assert acct.delivered_pg() == 1_461_930


def test_on_step_allocates_nothing_with_full_counters():
    """A 40 mL fill at its end (fill near 40 000 000 nL, every remainder about to carry): every
    intermediate stays a small int, so a step allocates nothing (MicroPython; CPython: the values)."""
    import gc
    import sys
    acct = Accounting(48_731)
    acct.refill("baclofen", 2000, 40_000_000)
    acct.restore({"res": [10, 999], "fill": [39_999_990, 999], "bank": [999_999, 999_999, 999_999, 999_999],
                  "steps": 0x3FFFFFFF - 5})
    mpy = sys.implementation.name == "micropython"
    if mpy:
        gc.collect()
        before = gc.mem_alloc()
    for _ in range(10):
        acct.on_step()
    if mpy:
        allocated = gc.mem_alloc() - before
        assert allocated == 0, "on_step allocated %d bytes over 10 steps" % allocated
    for value in (acct.fill_nl, acct._fill_pl, acct.reservoir_nl, acct._reservoir_owed_pl, acct.steps):
        assert small_int(value), value
    assert acct.steps == 4                                  # wrapped at 2**30
    # 10 x 48 731 pL = 487 310 pL on top of 39 999 990 nL + 999 pL
    assert acct.snapshot()["fill"] == [40_000_478, 309]
