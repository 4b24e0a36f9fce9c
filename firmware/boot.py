"""Boot: validate and recover what is on flash, log the reset and its cause, resume the therapy.

- settings missing: a new device (nothing programmed, nothing delivered): normal, logged.
- settings corrupted or unreadable: MEMORY_ERROR (critical, settings lost) and the safe state: therapy
  stopped, no drug known, so nothing is delivered until a clinician refills and programmes. Never a
  default therapy.
- journal corrupted or unreadable while the settings are fine: MEMORY_ERROR (non-critical); the
  reservoir estimate is set to the low threshold (the safe side: LOW_RESERVOIR asks for a refill).
- log slots torn or corrupted: counted, logged, MEMORY_ERROR (non-critical).
- wall clock: the RTC if it runs and is not behind the journal, else the journal's time (a board
  without a backup battery): then the time off is unknown and logged as such.
Delivery missed while the power was off is logged as an upper bound (the boot time minus the last
journal time bounds the time off), never made up. A bolus that was running is not resumed: it is
closed in the log (bolus_end, why "reset", with the counts of the last journal) and its remainder is
counted in the reset record (bolus_missed_nl, and in missed_max_nl when the time off is known).
The settings are applied, and the calibration handed to every consumer, before the journal is.
"""

from firmware import persist, record
from firmware.alarms import NON_CRITICAL


def restore(pump, reset_cause):
    storage = pump.hw.storage
    tb = pump.timebase
    notes = {"cause": reset_cause}
    try:
        recs, corrupt = pump.logstore.load()
        pump.log.restore(recs)
        if corrupt:
            notes["log_corrupt"] = corrupt
    except OSError:
        notes["log_unreadable"] = True
    pump.log.store = pump.logstore        # from here on every record is written as it is added
    status = record.MISSING
    try:
        status, seq, payload = record.load(storage, persist.SETTINGS)
        if status == record.OK:
            persist.apply_settings(pump, payload)
            pump.persist_seq[persist.SETTINGS] = seq
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        status = record.CORRUPT
    settings_ok = status == record.OK
    if status == record.CORRUPT:
        _safe_defaults(pump)
        notes["settings"] = "lost"
    journal = None
    stop_bits = 0
    if settings_ok and pump.acct.drug is not None:
        try:
            jstatus, seq, payload = record.load(storage, persist.JOURNAL)
            if jstatus != record.OK:
                raise ValueError("journal %d" % jstatus)
            journal = persist.read_journal(payload)
            pump.persist_seq[persist.JOURNAL] = seq
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pump.acct.reservoir_nl = pump.config.low_reservoir_nl
            pump.acct._reservoir_owed_pl = 0
            notes["journal"] = "lost"
    # wall clock: the RTC if it kept time, else the journal's time
    rtc = pump.hw.clock.rtc_s()
    elapsed = None
    cut = None          # a bolus the reset cut short: [kind, steps_total, steps_left] as journalled
    if journal is not None:
        journal_t = journal["t"]
        if rtc < journal_t:
            tb.wall_s = journal_t
            notes["off_max_s"] = None  # unknown: the RTC did not keep time
            pump.hw.clock.set_rtc_s(journal_t)
        else:
            elapsed = rtc - journal_t
            notes["off_max_s"] = elapsed    # upper bound: the power went at or after the last journal
        try:
            reserve = persist.reserve_for(journal, elapsed)
            stop_bits = persist.apply_journal(pump, journal, reserve, elapsed is not None)
            notes["reserve_nl"] = reserve // 1000
            cut = journal.get("bolus")
            if cut:
                notes["bolus_missed_nl"] = cut[2] * journal["rates"][3] // 1000
        except (ValueError, KeyError, TypeError, IndexError):
            pump.acct.reservoir_nl = pump.config.low_reservoir_nl
            pump.acct._reservoir_owed_pl = 0
            notes["journal"] = "lost"
    if settings_ok and notes.get("off_max_s") is not None:
        # logged, never made up: at most this much was missed (the time off is known only to within
        # the journal interval), the basal over the time off and a bolus the reset cut short
        rate = pump.therapy.rate_at(tb.wall_s, pump.basal_conc(), pump.config.minimum_nl_day)
        notes["missed_max_nl"] = rate * notes["off_max_s"] // 86400 + notes.get("bolus_missed_nl", 0)
    pump.log.add(tb.wall_s, "reset", notes)
    if cut:
        # closed like a bolus a fault stopped; the counts are those of the last journal: at least
        # `steps` were given, at most `steps_missed` were missed (the reservoir counted them as given)
        pump.log.add(tb.wall_s, "bolus_end", {"kind": cut[0], "steps": cut[1] - cut[2], "steps_missed": cut[2],
                                              "why": "reset"})
    if notes.get("settings") == "lost":
        pump.alarms.raise_alarm("MEMORY_ERROR", tb.wall_s, "settings lost: therapy stopped")
    elif "journal" in notes or "log_corrupt" in notes or "log_unreadable" in notes:
        pump.alarms.raise_alarm("MEMORY_ERROR", tb.wall_s, "journal or log damaged", tier=NON_CRITICAL)
    return stop_bits, notes


def _safe_defaults(pump):
    from firmware.therapy import Therapy
    pump.therapy = Therapy()
    pump.acct.drug = None
    pump.acct.conc_mcg_ml = 0
    pump.demand.disable()
