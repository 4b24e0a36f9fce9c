"""Human output of the device commands: rich tables, volumes in mL/uL, doses in mcg, and dates.

The pump counts wall seconds from its epoch, 2024-01-01 00:00 UTC (the simulator's t=0 is that
instant), so a second count such as refill_due_s is shown as a UTC date.
"""

import datetime

from pumpctl.timefmt import format_duration

EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def date(t_s):
    if t_s is None:
        return "-"
    return (EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M UTC")


def due(t_s, now_s):
    """A due date with the time left ('overdue' when past)."""
    if t_s is None:
        return "-"
    left = t_s - now_s
    return "%s (%s)" % (date(t_s), "in " + format_duration(left) if left >= 0 else "overdue")


def ml(pl):
    return "-" if pl is None else "%.3f mL" % (pl / 1e9)


def mcg(ng):
    return "%g mcg" % (ng / 1000)


def therapy(desc):
    """One line for a therapy description (firmware Therapy.describe())."""
    if not isinstance(desc, dict):
        return str(desc)
    mode = desc.get("mode")
    if mode == "continuous":
        return "continuous %s/day" % mcg(desc.get("dose_ng_day", 0))
    if mode == "flex":
        steps = ", ".join("%s from %s" % (mcg(s["dose_ng_day"]), _clock(s["start_s"], desc.get("cycle")))
                          for s in desc.get("steps", []))
        return "flex (%s): %s per day" % (desc.get("cycle"), steps)
    return str(mode)


def _clock(start_s, cycle):
    if cycle == "week":
        days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
        return "%s %02d:%02d" % (days[start_s // 86400 % 7], start_s % 86400 // 3600, start_s % 3600 // 60)
    return "%02d:%02d" % (start_s // 3600, start_s % 3600 // 60)


def demand(desc):
    if not desc:
        return "off"
    return "%s over %d s, lockout %d s, at most %d/day" % (
        mcg(desc["dose_ng"]), desc["duration_s"], desc["lockout_s"], desc["max_per_day"])


def _table(title, rows, columns=("", "")):
    from rich.table import Table
    table = Table(title=title, show_header=bool(columns[0]))
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*[str(c) for c in row])
    return table


def show(table):
    from rich.console import Console
    Console().print(table)


def status_table(st):
    now = st.get("t_s", 0)
    alarms = st.get("alarms") or []
    rows = [
        ("time", date(now)),
        ("therapy", therapy(st.get("therapy"))),
        ("basal rate", "%.3f uL/day" % (st.get("rate_nl_day", 0) / 1000)),
        ("drug", "%s %s mcg/mL" % (st.get("drug"), st.get("conc_mcg_ml")) if st.get("drug") else "none"),
        ("reservoir", "%s of %s" % (ml(st.get("reservoir_pl")), ml(st.get("capacity_nl", 0) * 1000))),
        ("delivered", "%s (%s)" % (ml(st.get("delivered_pl")), mcg(st.get("delivered_pg", 0) / 1000))),
        ("refill due", due(st.get("refill_due_s"), now)),
        ("low-reservoir alarm at", ml(st.get("low_reservoir_nl", 0) * 1000)),
        ("bolus", st.get("bolus") or "none"),
        ("demand bolus", demand(st.get("demand"))),
        ("alarms", ", ".join("%s (%s)" % (a.get("code"), a.get("tier")) for a in alarms) or "none"),
        ("battery", "%s mV, replacement (ERI) %s" % (st.get("battery_mv"), due(st.get("battery_eri_due_s"), now))),
    ]
    if st.get("stopped_by"):
        rows.append(("delivery stopped by", ", ".join(st["stopped_by"])))
    if st.get("safe_state"):
        rows.append(("SAFE STATE", "internal fault: motor stopped"))
    return _table("pump status", rows)


def info_table(info, keys_state=None):
    rows = [("firmware", info.get("firmware")), ("board", info.get("board")), ("serial number", info.get("serial"))]
    if keys_state:
        for role, entry in keys_state.get("roles", {}).items():
            rows.append(("%s key" % role, "provisioned, counter %d" % entry["ctr"] if entry["key"] else "none"))
        rows.append(("bench", "enabled" if keys_state.get("bench") else "disabled"))
        if keys_state.get("locked_s"):
            rows.append(("authentication", "locked for %d s (too many failures)" % keys_state["locked_s"]))
    return _table("pump", rows)


def compare_table(old, new):
    """Old and new therapy side by side, one row per field that either has."""
    fields = []
    for desc in (old, new):
        for key in desc:
            if key not in fields:
                fields.append(key)
    rows = [("summary", therapy(old), therapy(new))]
    for key in fields:
        a, b = old.get(key, "-"), new.get(key, "-")
        rows.append((key + (" *" if a != b else ""), _field(key, a), _field(key, b)))
    return _table("programme: present vs new (* changes)", rows, ("field", "present", "new"))


def _field(key, value):
    if key.endswith("_ng_day") and isinstance(value, int):
        return "%s/day" % mcg(value)
    if key == "steps" and isinstance(value, list):
        return "; ".join("%s %s/day" % (_clock(s["start_s"], None), mcg(s["dose_ng_day"])) for s in value)
    return str(value)


def result_table(title, reply):
    rows = [(k, v) for k, v in reply.items() if k not in ("id", "ok")]
    for i, (k, v) in enumerate(rows):
        if k.endswith("_due_s"):
            rows[i] = (k, date(v))
    return _table(title, rows)


LOG_COLUMNS = ("seq", "t_s", "date", "type", "data")


def log_table(events):
    rows = [(e["seq"], e["t_s"], date(e["t_s"]), e["type"], e.get("data") if e.get("data") is not None else "")
            for e in events]
    return _table("event log (%d records)" % len(events), rows, LOG_COLUMNS)
