"""The pump's persistence duties, mixed into Pump (firmware/app.py): settings written before a change,
the journal with its safe-side reserve, storage-failure alarms (MEMORY_ERROR) and the tubing reminder.
Formats and recovery rules: firmware/persist.py and firmware/boot.py.
"""

from firmware import persist
from firmware.errors import E_STORAGE, CommandError
from firmware.supervisor import PERSISTENT_STOPS


class Persistence:
    def save_settings(self, **overrides):
        """Write the settings as they will be after a change, BEFORE the change is made. On a storage
        failure the change must not happen: raises CommandError(E_STORAGE)."""
        try:
            persist.save(self, persist.SETTINGS, persist.settings_payload(self, **overrides))
        except OSError as exc:
            self._storage_failed("settings", exc)
            raise CommandError(E_STORAGE, "settings could not be saved (%r): nothing changed" % (exc,))
        self._storage_ok(settings=True)
        self._journal_pending = True

    def journal_soon(self):
        self._journal_pending = True

    def journal_reserve_pl(self):
        """The most the pump can deliver before the next journal write (safe-side margin). The
        scheduled write runs in housekeeping, which may come up to 1.5 housekeeping periods after
        the journal falls due, so the margin covers the interval plus that."""
        acct = self.acct
        cfg = self.config
        window_s = cfg.journal_interval_s + (cfg.housekeeping_ms * 3 + 1999) // 2000
        reserve = self.top_rate_nl_day() * 1000 * window_s // 86400 + acct.step_pl
        if self.bolus.active():
            reserve += self.bolus.steps_left * acct.step_pl
        return reserve

    def write_journal(self):
        self._journal_pending = False
        # scheduled writes keep their hourly grid (a late housekeeping does not push the next one
        # later); a write after a change starts a new interval
        wall = self.timebase.wall_s
        interval = self.config.journal_interval_s
        nxt = self._journal_next_s + interval
        if nxt <= wall or nxt > wall + interval:
            nxt = wall + interval
        self._journal_next_s = nxt
        if self.acct.drug is None:
            return
        try:
            persist.save(self, persist.JOURNAL, persist.journal_payload(self, self.journal_reserve_pl()))
        except OSError as exc:
            self._storage_failed("journal", exc)
            return
        self._storage_ok()

    def persistent_stop_bits(self):
        return PERSISTENT_STOPS

    def _log_store_error(self, exc):
        self._storage_failed("event log", exc)

    def _storage_failed(self, what, exc):
        if self._memory_error is None:
            self._memory_error = "io"
        self.alarms.raise_alarm("MEMORY_ERROR", self.timebase.wall_s, "%s write failed: %r" % (what, exc),
                                tier="non-critical")

    def _storage_ok(self, settings=False, refill=False):
        kind = self._memory_error
        if kind == "io" or (settings and kind == "settings") or (refill and kind == "data"):
            self._memory_error = None
            self.alarms.clear("MEMORY_ERROR", self.timebase.wall_s)

    def delivered_ul(self):
        """Lifetime delivered volume in whole uL (small ints only)."""
        acct = self.acct
        return acct._bank_ul + (acct._bank_pl // 1000 + acct.fill_nl) // 1000

    def _check_tubing(self, wall_s):
        """Peristaltic tubing wears: remind once after tubing_service_nl since the last calibration."""
        cfg = self.config
        if cfg.tubing_service_nl and not self._tubing_warned:
            used_ul = self.delivered_ul() - cfg.tubing_base_ul
            if used_ul * 1000 >= cfg.tubing_service_nl:
                self._tubing_warned = True
                self.log.add(wall_s, "warning", {"code": "TUBING_SERVICE", "used_ul": used_ul,
                                                 "detail": "replace the tubing and calibrate"})

    def storage_refilled(self):
        """A refill makes the reservoir estimate real again: a journal lost at boot no longer matters."""
        self._storage_ok(refill=True)
