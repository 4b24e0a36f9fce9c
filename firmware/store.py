"""Persistence, composed into the Pump: the settings written before a change, the journal with its
safe-side reserve, and the storage status (MEMORY_ERROR). Record formats: firmware/persist.py (a codec
over the components' snapshots); recovery rules at boot: firmware/boot.py.

The Store reads the components through their methods and snapshots; it writes none of their fields.
"""

from firmware import lazy, stops
from firmware.errors import E_STORAGE, CommandError

SETTINGS = "settings"         # record names (firmware/persist.py writes and reads them)
JOURNAL = "journal"
KEEP = object()               # an override left out of save_settings(): the present value is kept

# MEMORY_ERROR causes: settings lost at boot (cleared when the settings are written again), journal or
# log records lost at boot (cleared at the next refill), a write failed (cleared by the next good write)
SETTINGS_LOST = "settings"
DATA_LOST = "data"
WRITE_FAILED = "io"


class Store:
    def __init__(self, hw, config, log, alarms, timebase, delivery, demand, guard):
        self._evict = config.evict_handlers   # the codec (persist.py) leaves RAM after each write
        self.hw = hw
        self.config = config
        self.log = log
        self.alarms = alarms
        self.timebase = timebase
        self.delivery = delivery
        self.demand = demand
        self.guard = guard
        self.seq = {}                 # record name -> the last sequence number written or read
        self.memory_error = None      # SETTINGS_LOST, DATA_LOST, WRITE_FAILED or None
        self.journal_due = True       # the journal must be written at the loop's end
        self.journal_next_s = timebase.wall_s

    # --- settings -------------------------------------------------------------------------------
    def settings_snapshot(self, therapy=None, drug=KEEP, conc=None, config=None, demand=False):
        """The settings as they will be after a change, as persist.encode_settings takes them. Overrides:
        therapy (a Therapy), drug and conc, config ({Config attribute: value}), demand ((dose_ng,
        duration_s, lockout_s, per_day), None to disable, False to keep)."""
        cfg = self.config
        overrides = config or {}
        acct = self.delivery.acct
        keys = lazy.module("persist").CONFIG_KEYS
        return {
            "cfg": {k: overrides[k] if k in overrides else getattr(cfg, k) for k in keys},
            "rx": (therapy or self.delivery.therapy).snapshot(),
            "drug": [acct.drug if drug is KEEP else drug, acct.conc_mcg_ml if conc is None else conc],
            "demand": self.demand.settings() if demand is False else (list(demand) if demand else None),
        }

    def save_settings(self, **overrides):
        """Write the settings as they will be after a change, BEFORE the change is made. On a storage
        failure the change must not happen: raises CommandError(E_STORAGE)."""
        keep = lazy.mark()
        try:
            self._save(SETTINGS, lazy.module("persist").encode_settings(self.settings_snapshot(**overrides)))
        except OSError as exc:
            self.storage_failed("settings", exc)
            raise CommandError(E_STORAGE, "settings could not be saved (%r): nothing changed" % (exc,))
        finally:
            if self._evict:
                lazy.drop(keep)
            lazy.settle()       # while a command is served: the codec, the record and its file object go
        self.storage_ok(settings=True)
        self.journal_due = True

    # --- journal --------------------------------------------------------------------------------
    def journal_reserve_pl(self):
        """The most the pump can deliver before the next journal write (safe-side margin). The
        scheduled write runs in housekeeping, which may come up to 1.5 housekeeping periods after
        the journal falls due, so the margin covers the interval plus that."""
        delivery = self.delivery
        step_pl = delivery.acct.step_pl
        cfg = self.config
        window_s = cfg.journal_interval_s + (cfg.housekeeping_ms * 3 + 1999) // 2000
        reserve = delivery.top_rate_nl_day() * 1000 * window_s // 86400 + step_pl
        if delivery.bolus.active():
            reserve += delivery.bolus.steps_left * step_pl
        return reserve

    def journal_snapshot(self):
        """What the journal holds (persist.encode_journal): the components' snapshots and the rates
        the reserve is bounded with after a reset."""
        delivery = self.delivery
        acct = delivery.acct
        bolus = delivery.bolus
        active = bolus.active()
        snap = {
            "t": self.timebase.wall_s,
            "jump": self.timebase.snapshot(),
            "reserve": self.journal_reserve_pl(),
            "rates": [delivery.top_rate_nl_day(), bolus.planner.rate_nl_day if active else 0,
                      bolus.steps_left * acct.step_pl if active else 0, acct.step_pl],
            "bridge": [delivery.bridge_volume_pl(), delivery.bridge_conc_mcg_ml],
            "bolus": bolus.snapshot(),
            "grants": self.demand.snapshot(),
            "guard": self.guard.snapshot(),
            "stop": delivery.stop_mask & stops.PERSISTENT,
        }
        snap.update(acct.snapshot())
        return snap

    def journal_soon(self):
        self.journal_due = True

    def due(self, wall_s):
        """Housekeeping: the scheduled journal write has come."""
        if wall_s >= self.journal_next_s:
            self.journal_due = True

    def write_journal(self):
        self.journal_due = False
        # scheduled writes keep their hourly grid (a late housekeeping does not push the next one
        # later); a write after a change starts a new interval
        wall = self.timebase.wall_s
        interval = self.config.journal_interval_s
        nxt = self.journal_next_s + interval
        if nxt <= wall or nxt > wall + interval:
            nxt = wall + interval
        self.journal_next_s = nxt
        if self.delivery.acct.drug is None:
            return
        keep = lazy.mark()
        try:
            self._save(JOURNAL, lazy.module("persist").encode_journal(self.journal_snapshot()))
        except OSError as exc:
            self.storage_failed("journal", exc)
            return
        finally:
            if self._evict:
                lazy.drop(keep)
        self.storage_ok()

    def start_journal(self, wall_s):
        """Boot: the scheduled journal writes start their grid at wall_s."""
        self.journal_next_s = wall_s

    # --- storage status -------------------------------------------------------------------------
    def lost_at_boot(self, kind):
        """Boot found SETTINGS_LOST or DATA_LOST (MEMORY_ERROR is raised): what clears it later."""
        self.memory_error = kind

    def _save(self, name, payload):
        """Write a record; the sequence number is the Store's write counter for that name."""
        seq = self.seq.get(name, 0) + 1
        lazy.module("persist").save(self.hw.storage, name, seq, payload)
        self.seq[name] = seq

    def log_store_error(self, exc):
        self.storage_failed("event log", exc)

    def storage_failed(self, what, exc):
        if self.memory_error is None:
            self.memory_error = WRITE_FAILED
        self.alarms.raise_alarm("MEMORY_ERROR", self.timebase.wall_s, "%s write failed: %r" % (what, exc),
                                tier="non-critical")

    def storage_ok(self, settings=False, refill=False):
        kind = self.memory_error
        if kind == WRITE_FAILED or (settings and kind == SETTINGS_LOST) or (refill and kind == DATA_LOST):
            self.memory_error = None
            self.alarms.clear("MEMORY_ERROR", self.timebase.wall_s)
