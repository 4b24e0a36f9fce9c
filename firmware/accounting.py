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
        """One step went out. Allocation-free; every value stays a small int (the remainder routine)."""
        self.steps = 0 if self.steps >= 0x3FFFFFFF else self.steps + 1    # wraps at 2**30, never reaches it
        self._count(self.step_whole_nl, self.step_rem_pl)

    def consume_pl(self, volume_pl):
        """Count `volume_pl` as delivered without steps (the journal's reserve after a reset). The
        estimate stops at 0 (it never goes below empty)."""
        self._count(volume_pl // _PL_PER_NL, volume_pl % _PL_PER_NL)   # not divmod(): see the module docstring
        if self.reservoir_nl < 0:
            self.reservoir_nl = 0
            self._reservoir_owed_pl = 0

    def _count(self, nl, pl):
        """The one remainder routine: `nl` nL + `pl` pL (0 <= pl < 1000) delivered, added to the fill
        and taken from the reservoir estimate; both remainders stay 0..999. Allocation-free: the
        largest intermediate is a counter plus one step (< 2**30 for any fill a reservoir holds)."""
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

    def set_drug(self, drug, conc_mcg_ml):
        """The drug and concentration in the reservoir (settings at boot); None and 0: no drug. The
        counts are not banked: use refill() when the fill itself changes."""
        self.drug = drug
        self.conc_mcg_ml = conc_mcg_ml

    def set_reservoir_nl(self, nl):
        """Set the estimate to `nl` nL exactly (remainder 0): a journal lost at boot."""
        self.reservoir_nl = nl
        self._reservoir_owed_pl = 0

    def snapshot(self):
        """The counts for the journal (firmware/persist.py): keys and layout are the journal's."""
        return {"res": [self.reservoir_nl, self._reservoir_owed_pl],
                "fill": [self.fill_nl, self._fill_pl],
                "bank": [self._bank_ul, self._bank_pl, self._bank_mcg, self._bank_pg],
                "steps": self.steps}

    def restore(self, d):
        """The counts of snapshot(); everything is checked before anything is set. A missing key:
        KeyError; a wrong length: ValueError; not a list of ints: TypeError; a remainder outside its
        range or a count that is not a small int (|v| < 2**30): ValueError."""
        reservoir_nl, owed_pl = d["res"]
        fill_nl, fill_pl = d["fill"]
        bank_ul, bank_pl, bank_mcg, bank_pg = d["bank"]
        steps = d["steps"]
        values = (reservoir_nl, owed_pl, fill_nl, fill_pl, bank_ul, bank_pl, bank_mcg, bank_pg, steps)
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("journal count %r" % (value,))
            if not -0x3FFFFFFF <= value <= 0x3FFFFFFF:
                raise ValueError("journal count %r" % (value,))
        if not (0 <= owed_pl < _PL_PER_NL and 0 <= fill_pl < _PL_PER_NL and 0 <= bank_pl < _PL_PER_UL
                and 0 <= bank_pg < _PG_PER_MCG and steps >= 0):
            raise ValueError("journal remainder out of range")
        self.reservoir_nl = reservoir_nl
        self._reservoir_owed_pl = owed_pl
        self.fill_nl = fill_nl
        self._fill_pl = fill_pl
        self._bank_ul = bank_ul
        self._bank_pl = bank_pl
        self._bank_mcg = bank_mcg
        self._bank_pg = bank_pg
        self.steps = steps

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

    def delivered_ul(self):
        """Lifetime delivered volume in whole uL, rounded down (small ints only)."""
        bank_pl = self._bank_pl
        nl = bank_pl // _PL_PER_NL + self.fill_nl + (bank_pl % _PL_PER_NL + self._fill_pl) // _PL_PER_NL
        return self._bank_ul + nl // _PL_PER_NL
