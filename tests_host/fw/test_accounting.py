"""Accounting: integer volumes with remainders, reservoir estimate, mass across concentrations."""

from helpers import small_int

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
