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
from firmware.therapy import Therapy

_RESTORE_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError)


def restore(store, logstore, reset_cause):
    """Recover the Store's components from flash (see above). Returns (stop bits, notes of the reset record)."""
    tb = store.timebase
    log = store.log
    delivery = store.delivery
    acct = delivery.acct
    cfg = store.config
    notes = {"cause": reset_cause}
    try:
        corrupt = log.restore_from(logstore)      # one record in RAM at a time (a full log is 200)
        if corrupt:
            notes["log_corrupt"] = corrupt
    except OSError:
        notes["log_unreadable"] = True
    log.store = logstore          # from here on every record is written as it is added
    status = record.MISSING
    try:
        status, seq, payload = persist.load(store.hw.storage, persist.SETTINGS)
        if status == record.OK:
            _apply_settings(store, persist.decode_settings(payload, cfg))
            store.seq[persist.SETTINGS] = seq
    except _RESTORE_ERRORS:
        status = record.CORRUPT
    settings_ok = status == record.OK
    if status == record.CORRUPT:
        _safe_defaults(store)
        notes["settings"] = "lost"
    journal = None
    stop_bits = 0
    if settings_ok and acct.drug is not None:
        try:
            jstatus, seq, payload = persist.load(store.hw.storage, persist.JOURNAL)
            if jstatus != record.OK:
                raise ValueError("journal %d" % jstatus)
            journal = persist.decode_journal(payload)
            store.seq[persist.JOURNAL] = seq
        except _RESTORE_ERRORS:
            acct.set_reservoir_nl(cfg.low_reservoir_nl)
            notes["journal"] = "lost"
    # wall clock: the RTC if it kept time, else the journal's time
    clock = store.hw.clock
    rtc = clock.rtc_s()
    elapsed = None
    cut = None          # a bolus the reset cut short: [kind, steps_total, steps_left] as journalled
    if journal is not None:
        journal_t = journal["t"]
        if rtc < journal_t:
            tb.resume_at(journal_t)
            notes["off_max_s"] = None  # unknown: the RTC did not keep time
            clock.set_rtc_s(journal_t)
        else:
            elapsed = rtc - journal_t
            notes["off_max_s"] = elapsed    # upper bound: the power went at or after the last journal
        try:
            reserve = persist.reserve_for(journal, elapsed)
            stop_bits = _apply_journal(store, journal, reserve, elapsed is not None)
            notes["reserve_nl"] = reserve // 1000
            cut = journal.get("bolus")
            if cut:
                notes["bolus_missed_nl"] = cut[2] * journal["rates"][3] // 1000
        except (ValueError, KeyError, TypeError, IndexError):
            acct.set_reservoir_nl(cfg.low_reservoir_nl)
            notes["journal"] = "lost"
    if settings_ok and notes.get("off_max_s") is not None:
        # logged, never made up: at most this much was missed (the time off is known only to within
        # the journal interval), the basal over the time off and a bolus the reset cut short
        rate = delivery.therapy.rate_at(tb.wall_s, delivery.basal_conc(), cfg.minimum_nl_day)
        notes["missed_max_nl"] = rate * notes["off_max_s"] // 86400 + notes.get("bolus_missed_nl", 0)
    log.add(tb.wall_s, "reset", notes)
    if cut:
        # closed like a bolus a fault stopped; the counts are those of the last journal: at least
        # `steps` were given, at most `steps_missed` were missed (the reservoir counted them as given)
        log.add(tb.wall_s, "bolus_end", {"kind": cut[0], "steps": cut[1] - cut[2], "steps_missed": cut[2],
                                         "why": "reset"})
    if notes.get("settings") == "lost":
        store.alarms.raise_alarm("MEMORY_ERROR", tb.wall_s, "settings lost: therapy stopped")
    elif "journal" in notes or "log_corrupt" in notes or "log_unreadable" in notes:
        store.alarms.raise_alarm("MEMORY_ERROR", tb.wall_s, "journal or log damaged", tier=NON_CRITICAL)
    return stop_bits, notes


def _apply_settings(store, settings):
    """Restore decoded settings into a freshly booted pump, then hand every consumer its value: the
    calibration reaches the accounts and the planners before the journal is applied."""
    cfg = store.config
    for key, value in settings["cfg"].items():
        setattr(cfg, key, value)
    delivery = store.delivery
    delivery.set_therapy(settings["therapy"])
    delivery.acct.set_drug(settings["drug"], settings["conc"])
    if settings["demand"]:
        store.demand.configure(*settings["demand"])
    delivery.set_step_pl(cfg.step_pl)


def _apply_journal(store, data, reserve, time_known):
    """Restore a decoded journal; `reserve` pL count as delivered. The guard assumes the reserve's
    pulses sent only when the time off is known (time_known: see firmware/guard.py)."""
    delivery = store.delivery
    acct = delivery.acct
    acct.restore(data)
    acct.consume_pl(reserve)
    bridge_pl, bridge_conc = data["bridge"]
    delivery.set_bridge(bridge_conc, bridge_pl - reserve)
    store.demand.restore(data["grants"])
    store.timebase.restore(data["jump"])
    # the reserve already holds one whole step for each planner's partial step: floor, not + 1
    assumed = reserve // data["rates"][3] if time_known else 0
    store.guard.restore(data["guard"], assumed, store.timebase.mono_s())
    return data["stop"]


def _safe_defaults(store):
    store.delivery.set_therapy(Therapy())
    store.delivery.acct.set_drug(None, 0)
    store.demand.disable()
