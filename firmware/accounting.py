"""Delivered volume, drug mass and the reservoir estimate, all in integers.

Volumes are split into a whole part and a remainder so every counter stays below 2**30 for the
pump's life: per-fill volume in nL + pL (0..999); lifetime volume banked in uL + pL (0..999_999);
lifetime drug mass banked in mcg + pg (0..999_999). The reservoir estimate is
`reservoir_nl` nL minus `_reservoir_owed_pl` pL. on_step() is the only per-step call: no allocation.
Splits use // and %, never divmod(): on MicroPython divmod() of a long int returns heap ints even when
their values are small, and every sum with them (each step's) would allocate again.
"""

from micropython import const

_PL_PER_NL = const(1000)
_PL_PER_UL = const(1_000_000)
_PG_PER_MCG = const(1_000_000)


class Accounting:
    def __init__(self, step_pl):
        self.step_pl = 0
        self.step_whole_nl = 0      # one step = step_whole_nl nL + step_rem_pl pL (0..999)
        self.step_rem_pl = 0
        # current fill
        self.drug = None
        self.conc_mcg_ml = 0
        self.reservoir_nl = 0
        self._reservoir_owed_pl = 0
        self.fill_nl = 0            # delivered since the last bank point (refill, calibration)
        self._fill_pl = 0
        # lifetime banks
        self._bank_ul = 0
        self._bank_pl = 0
        self._bank_mcg = 0
        self._bank_pg = 0
        self.steps = 0              # lifetime steps, wraps at 2**30
        self.set_step_pl(step_pl)

    def set_step_pl(self, step_pl):
        self.bank()
        self.step_pl = step_pl
        self.step_whole_nl = step_pl // _PL_PER_NL
        self.step_rem_pl = step_pl % _PL_PER_NL

    def on_step(self):
        self.steps = 0 if self.steps >= 0x3FFFFFFF else self.steps + 1    # wraps at 2**30, never reaches it
        self.fill_nl += self.step_whole_nl
        self._fill_pl += self.step_rem_pl
        if self._fill_pl >= _PL_PER_NL:
            self._fill_pl -= _PL_PER_NL
            self.fill_nl += 1
        self.reservoir_nl -= self.step_whole_nl
        self._reservoir_owed_pl += self.step_rem_pl
        if self._reservoir_owed_pl >= _PL_PER_NL:
            self._reservoir_owed_pl -= _PL_PER_NL
            self.reservoir_nl -= 1

    def consume_pl(self, volume_pl):
        """Count `volume_pl` as delivered without steps (the journal's reserve after a reset)."""
        nl = volume_pl // _PL_PER_NL      # // and %, not divmod(): see the module docstring
        pl = volume_pl % _PL_PER_NL
        self.fill_nl += nl
        self._fill_pl += pl
        if self._fill_pl >= _PL_PER_NL:
            self._fill_pl -= _PL_PER_NL
            self.fill_nl += 1
        self.reservoir_nl -= nl
        self._reservoir_owed_pl += pl
        if self._reservoir_owed_pl >= _PL_PER_NL:
            self._reservoir_owed_pl -= _PL_PER_NL
            self.reservoir_nl -= 1
        if self.reservoir_nl < 0:
            self.reservoir_nl = 0
            self._reservoir_owed_pl = 0

    def bank(self):
        """Move the per-fill counters into the lifetime banks (volume and drug mass)."""
        fill_pl = self.fill_nl * _PL_PER_NL + self._fill_pl
        if fill_pl == 0:
            return
        total_pl = self._bank_pl + fill_pl
        ul = total_pl // _PL_PER_UL
        pl = total_pl % _PL_PER_UL
        self._bank_ul += ul
        self._bank_pl = pl
        # 1 pL at 1 mcg/mL is 1 fg = 0.001 pg; fractions of a pg are dropped (< 1e-6 mcg)
        total_pg = self._bank_pg + fill_pl * self.conc_mcg_ml // 1000
        mcg = total_pg // _PG_PER_MCG
        pg = total_pg % _PG_PER_MCG
        self._bank_mcg += mcg
        self._bank_pg = pg
        self.fill_nl = 0
        self._fill_pl = 0

    def refill(self, drug, conc_mcg_ml, volume_nl):
        self.bank()
        self.drug = drug
        self.conc_mcg_ml = conc_mcg_ml
        self.reservoir_nl = volume_nl
        self._reservoir_owed_pl = 0

    def reservoir_pl(self):
        """Exact estimate in pL (may be a long int: reporting only)."""
        return self.reservoir_nl * _PL_PER_NL - self._reservoir_owed_pl

    def delivered_pl(self):
        """Lifetime delivered volume in pL (reporting only)."""
        return (self._bank_ul * _PL_PER_UL + self._bank_pl
                + self.fill_nl * _PL_PER_NL + self._fill_pl)

    def delivered_pg(self):
        """Lifetime delivered drug mass in pg (reporting only)."""
        fill_pl = self.fill_nl * _PL_PER_NL + self._fill_pl
        return (self._bank_mcg * _PG_PER_MCG + self._bank_pg
                + fill_pl * self.conc_mcg_ml // 1000)
