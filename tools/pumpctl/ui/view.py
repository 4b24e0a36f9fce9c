"""The pump's replies in the units a bench tester reads, for the dashboard page.

The pump speaks integer base units (ng/day, nL/day, pL, pg, s since 2024-01-01 00:00 UTC); the page
gets mL, uL, uL/h, mcg/day and dates. Conversions (1 mcg/mL = 1 ng/uL):
  uL/day = dose_ng_day / conc_mcg_ml;  uL/h = nL/day / 24000;  mcg/day = nL/day * conc_mcg_ml / 1e6.
"""

import datetime

EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)     # the pump's t_s = 0
DAY_S = 86400
WEEK_S = 7 * DAY_S
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")   # day 0 of the pump epoch is a Monday

# the buzzer patterns of firmware/tones.py, by alarm tier (IEC 60601-1-8 priorities)
TONES = {
    "critical": "high priority: 2 bursts of 5 pulses, 880/660 Hz, every 10 s",
    "non-critical": "medium priority: 3 pulses at 660 Hz, every 30 s",
}


def date(t_s):
    if t_s is None:
        return None
    return (EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds):
    """A duration for people: '45s', '12m', '3h05m', '2d 4h', '71d'."""
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm" % (seconds // 60)
    if seconds < DAY_S:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    days, hours = seconds // DAY_S, seconds % DAY_S // 3600
    return "%dd %dh" % (days, hours) if days < 10 and hours else "%dd" % days


def due(t_s, now_s):
    """{'t_s', 'date', 'left'} of a due time ('overdue' when past), or None."""
    if t_s is None:
        return None
    left = t_s - now_s
    return {"t_s": t_s, "date": date(t_s), "left": "in " + span(left) if left >= 0 else "overdue"}


def clock(start_s, cycle_s=DAY_S):
    """A time within the cycle: '08:00', or 'Tue 08:00' in a week cycle."""
    hm = "%02d:%02d" % (start_s % DAY_S // 3600, start_s % 3600 // 60)
    return "%s %s" % (WEEKDAYS[start_s // DAY_S % 7], hm) if cycle_s > DAY_S else hm


def mcg_day_of_rate(rate_nl_day, conc_mcg_ml):
    return rate_nl_day * (conc_mcg_ml or 0) / 1e6


def therapy_text(desc):
    """One line for a therapy description (the firmware's Therapy.describe())."""
    if not isinstance(desc, dict):
        return str(desc)
    mode = desc.get("mode")
    if mode == "continuous":
        return "continuous %g mcg/day" % (desc.get("dose_ng_day", 0) / 1000)
    if mode == "flex":
        cycle_s = WEEK_S if desc.get("cycle") == "week" else DAY_S
        steps = ", ".join("%g from %s" % (s["dose_ng_day"] / 1000, clock(s["start_s"], cycle_s))
                          for s in desc.get("steps", []))
        return "flex (%s): %s mcg/day" % (desc.get("cycle"), steps)
    if mode == "minimum":
        return "minimum rate (keeps the catheter open)"
    return str(mode)


def profile(status):
    """The programme over its cycle: segments of basal dose (mcg/day) and the present position.

    Continuous, minimum and stopped are shown over a day. A flex cycle is aligned to the pump's wall
    clock (t=0 is 00:00 on a Monday); before the first start the cycle's last step runs. A running
    bolus is drawn on top, from its start for its duration, as its own dose per day."""
    desc = status.get("therapy") or {}
    conc = status.get("conc_mcg_ml") or 0
    mode = desc.get("mode")
    cycle_s = WEEK_S if mode == "flex" and desc.get("cycle") == "week" else DAY_S
    now_s = status.get("t_s", 0)
    segments = []
    if mode == "flex" and desc.get("steps"):
        steps = desc["steps"]
        if steps[0]["start_s"] > 0:
            segments.append({"start_s": 0, "end_s": steps[0]["start_s"],
                             "dose_mcg_day": steps[-1]["dose_ng_day"] / 1000})
        for i, step in enumerate(steps):
            end = steps[i + 1]["start_s"] if i + 1 < len(steps) else cycle_s
            segments.append({"start_s": step["start_s"], "end_s": end, "dose_mcg_day": step["dose_ng_day"] / 1000})
    else:
        if mode == "continuous":
            dose = desc.get("dose_ng_day", 0) / 1000
        elif mode == "minimum":
            dose = mcg_day_of_rate(status.get("minimum_nl_day", 0), conc)
        else:
            dose = 0.0
        segments.append({"start_s": 0, "end_s": cycle_s, "dose_mcg_day": dose})
    bolus = None
    b = status.get("bolus")
    if b and b.get("rate_nl_day"):
        step_pl = status.get("step_pl") or 0
        duration_s = b["steps_total"] * step_pl * DAY_S // (b["rate_nl_day"] * 1000)
        bolus = {"kind": b.get("kind"), "start_s": b["started_s"] % cycle_s, "duration_s": duration_s,
                 "end_date": date(b["started_s"] + duration_s),
                 "dose_mcg_day": mcg_day_of_rate(b["rate_nl_day"], conc), "dose_mcg": b.get("dose_ng", 0) / 1000,
                 "left_fraction": b["steps_left"] / b["steps_total"] if b["steps_total"] else 0}
    top = max([s["dose_mcg_day"] for s in segments] + [1e-9])
    if bolus:
        top = max(top, max(s["dose_mcg_day"] for s in segments) + bolus["dose_mcg_day"])
    return {"cycle": "week" if cycle_s == WEEK_S else "day", "cycle_s": cycle_s, "now_s": now_s % cycle_s,
            "now_label": clock(now_s % cycle_s, cycle_s), "segments": segments, "bolus": bolus,
            "bridge_left_ul": status.get("bridge_left_pl", 0) / 1e6, "top_mcg_day": top}


def current_dose_mcg_day(status, prof):
    """The programmed basal dose at the present moment, mcg/day."""
    for seg in prof["segments"]:
        if seg["start_s"] <= prof["now_s"] < seg["end_s"]:
            return seg["dose_mcg_day"]
    return 0.0


def snapshot(status, sim=None):
    """Everything the page shows about the pump, in people's units, from `status` (and `sim.state`)."""
    now = status.get("t_s", 0)
    conc = status.get("conc_mcg_ml") or 0
    prof = profile(status)
    basal_nl_day = status.get("rate_nl_day", 0)
    bolus = status.get("bolus") or {}
    total_nl_day = basal_nl_day + (bolus.get("rate_nl_day") or 0)
    capacity_ml = status.get("capacity_nl", 0) / 1e6
    reservoir_ml = status.get("reservoir_pl", 0) / 1e9
    low_ml = status.get("low_reservoir_nl", 0) / 1e6
    alarms = [{"code": a["code"], "tier": a["tier"], "since": date(a.get("since_s")),
               "silenced": bool(a.get("silenced")), "tone": TONES.get(a["tier"], a["tier"])}
              for a in status.get("alarms") or []]
    alarms.sort(key=lambda a: (a["tier"] != "critical", a["code"]))
    out = {
        "t_s": now,
        "date": date(now),
        "therapy": {
            "mode": (status.get("therapy") or {}).get("mode"),
            "text": therapy_text(status.get("therapy")),
            "dose_mcg_day": current_dose_mcg_day(status, prof),
            "rate_ul_h": total_nl_day / 24000,
            "basal_ul_h": basal_nl_day / 24000,
            "drug": status.get("drug"),
            "conc_mcg_ml": conc,
            "bolus": prof["bolus"],
            "bridge_left_ul": prof["bridge_left_ul"],
        },
        "profile": prof,
        "reservoir": {"ml": reservoir_ml, "capacity_ml": capacity_ml, "low_ml": low_ml,
                      "low": reservoir_ml <= low_ml},
        "refill_due": due(status.get("refill_due_s"), now),
        "battery": {"mv": status.get("battery_mv"), "eri_due": due(status.get("battery_eri_due_s"), now)},
        "delivered": {"ul": status.get("delivered_pl", 0) / 1e6, "mcg": status.get("delivered_pg", 0) / 1e6},
        "alarms": alarms,
        "stopped_by": status.get("stopped_by") or [],
        "safe_state": bool(status.get("safe_state")),
        "sim": None,
    }
    if sim is not None:
        moved_ul = sim.get("moved_pl", 0) / 1e6
        faults = [name for name, on in (("motor stall", sim.get("stalled")), ("occlusion", sim.get("occluded")))
                  if on]
        out["sim"] = {"moved_ul": moved_ul, "reservoir_ul": sim.get("reservoir_pl", 0) / 1e6,
                      "counted_ul": out["delivered"]["ul"], "diff_ul": out["delivered"]["ul"] - moved_ul,
                      "elapsed_s": sim.get("elapsed_ms", 0) // 1000, "pulses": sim.get("pulses"),
                      "faults": faults}
    return out


# --- reviews of commands that change therapy: present and new side by side -----------------------------

def _rate_text(nl_day):
    return "%.3f uL/h (%.1f uL/day)" % (nl_day / 24000, nl_day / 1000)


def _basal_text(desc, conc, minimum_nl_day):
    """The basal rate a programme asks for, for people (nL/day = ng/day * 1000 / (mcg/mL))."""
    mode = desc.get("mode") if isinstance(desc, dict) else None
    if mode == "continuous" and conc:
        return _rate_text(desc.get("dose_ng_day", 0) * 1000 // conc)
    if mode == "flex" and conc and desc.get("steps"):
        rates = [s["dose_ng_day"] * 1000 // conc for s in desc["steps"]]
        return "%.3f to %.3f uL/h by step" % (min(rates) / 24000, max(rates) / 24000)
    if mode == "minimum":
        return _rate_text(minimum_nl_day) + ", the minimum rate"
    if mode == "stopped":
        return "0 (stopped)"
    return "-"


def review_program(dry, status):
    """Rows (field, present, new) of the firmware's dry run of `program` (its `old` and `new`)."""
    conc = status.get("conc_mcg_ml") or 0
    old, new = dry["old"], dry["new"]
    rows = [("programme", therapy_text(old), therapy_text(new)), ("mode", old.get("mode"), new.get("mode"))]
    rows.append(("basal rate", _rate_text(status.get("rate_nl_day", 0)),
                 _basal_text(new, conc, status.get("minimum_nl_day", 0))))
    if old.get("mode") == "flex" or new.get("mode") == "flex":
        rows.append(("cycle", old.get("cycle", "-"), new.get("cycle", "-")))
    return rows


def review_bolus(req, status):
    conc = status.get("conc_mcg_ml") or 0
    dose_ng = round(req["dose_mcg"] * 1000)
    volume_ul = dose_ng / conc if conc else 0
    present = status.get("bolus")
    rows = [
        ("basal programme", therapy_text(status.get("therapy")), "unchanged (runs beside the bolus)"),
        ("bolus", "running: %g mcg" % (present["dose_ng"] / 1000) if present else "none",
         "%g mcg over %s" % (req["dose_mcg"], span(req["duration_s"]))),
        ("bolus volume", "-", "%.2f uL of %s %s mcg/mL" % (volume_ul, status.get("drug"), conc)),
        ("bolus rate", "-", "%.2f uL/h" % (volume_ul * 3600 / req["duration_s"]) if req["duration_s"] else "-"),
    ]
    return rows


def review_refill(req, status):
    old_drug, old_conc = status.get("drug"), status.get("conc_mcg_ml")
    estimate_ml = status.get("reservoir_pl", 0) / 1e9
    rows = [
        ("drug", old_drug or "none", req["drug"]),
        ("concentration", "%s mcg/mL" % old_conc if old_drug else "-", "%s mcg/mL" % req["conc_mcg_ml"]),
        ("reservoir", "%.3f mL (estimate)" % estimate_ml, "%.3f mL" % req["volume_ml"]),
    ]
    if "residual_ml" in req:
        rows.append(("drained residual", "%.3f mL expected" % estimate_ml, "%.3f mL measured" % req["residual_ml"]))
    rows.append(("bridge bolus", "-", "yes: the catheter at the old concentration's rate" if req.get("bridge")
                 else "no"))
    if old_drug and old_drug != req["drug"]:
        rows.append(("programme", therapy_text(status.get("therapy")), "stopped (another drug)"))
    else:
        rows.append(("programme", therapy_text(status.get("therapy")), "unchanged"))
    return rows


# --- the event log in words ------------------------------------------------------------------------------

def _generic(data):
    import json
    return ", ".join("%s: %s" % (k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in data.items())


def event_text(event):
    """One line for an event-log record {seq, t_s, type, data}: the common types in words, others as key: value."""
    kind, data = event.get("type"), event.get("data")
    if not isinstance(data, dict):
        return "" if data is None else str(data)
    try:
        if kind == "alarm_raise":
            return "%s (%s)%s" % (data["code"], data.get("tier"), ": " + data["detail"] if data.get("detail") else "")
        if kind == "alarm_clear":
            return "%s cleared" % data["code"]
        if kind == "alarm_ack":
            return "acknowledged: %s" % ", ".join(data.get("codes") or []) or "-"
        if kind == "program":
            why = " (%s)" % data["why"] if data.get("why") else ""
            return "%s -> %s%s" % (therapy_text(data["old"]), therapy_text(data["new"]), why)
        if kind == "refill":
            before = data.get("before") or {}
            text = "%s %s mcg/mL, %.3f mL filled" % (data["drug"], data["conc_mcg_ml"], data["volume_nl"] / 1e6)
            if before.get("drug"):
                text += " (before: %s %s mcg/mL, %.3f mL estimated)" % (
                    before["drug"], before.get("conc_mcg_ml"), before.get("estimate_pl", 0) / 1e9)
            return text + (", bridge" if data.get("bridge") else "")
        if kind == "bolus_start":
            return "%s bolus %g mcg over %s (%d steps)" % (data["kind"], data["dose_ng"] / 1000,
                                                          span(data["duration_s"]), data["steps"])
        if kind == "warning":
            rest = {k: v for k, v in data.items() if k != "code"}
            return "%s%s" % (data["code"], ": " + _generic(rest) if rest else "")
        if kind == "clock_set":
            return "clock %s -> %s" % (date(data["old_s"]), date(data["new_s"]))
    except (KeyError, TypeError, ValueError):
        pass
    return _generic(data)
