"""Human output of the device commands: rich tables in the user's units (mL/uL, uL/h, mcg/day, mcg,
yes/no, `1h30m`, dates), never the protocol's base units (pL, nL/day, ng, s).

The pump counts wall seconds from its epoch, 2024-01-01 00:00 UTC (the simulator's t=0 is that
instant), so a second count such as refill_due_s is shown as a UTC date.

`value(key, v)` renders any reply field by its name's unit suffix (docs/protocol.md: units in names);
`label(key)` names it without the suffix. Every device reply goes through them (result_table).
"""

import datetime

from pumpctl.timefmt import format_span

EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def date(t_s):
    if t_s is None:
        return "-"
    return (EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M UTC")


def due(t_s, now_s):
    """A due date with the time left ('overdue' when past)."""
    if t_s is None:
        return "-"
    left = t_s - now_s
    return "%s (%s)" % (date(t_s), "in " + format_span(left) if left >= 0 else "overdue")


def _num(x, digits=3):
    """A number without trailing zeros: 20 -> '20', 0.25 -> '0.25', 1/3 -> '0.333'."""
    text = "%.*f" % (digits, x)
    return text.rstrip("0").rstrip(".") if "." in text else text


def volume(pl):
    """pL as mL from 1 mL up, else uL."""
    if pl is None:
        return "-"
    if abs(pl) >= 1_000_000_000:
        return "%s mL" % _num(pl / 1e9)
    return "%s uL" % _num(pl / 1e6)


def ml(pl):
    return "-" if pl is None else "%.3f mL" % (pl / 1e9)


def mcg(ng):
    return "%s mcg" % _num(ng / 1000)


def rate(nl_day):
    """A flow as uL/h with the daily volume: 3600000 nL/day -> '150 uL/h (3.6 mL/day)'."""
    if nl_day is None:
        return "-"
    return "%s uL/h (%s/day)" % (_num(nl_day / 24000), volume(nl_day * 1000))


def therapy(desc):
    """One line for a therapy description (firmware Therapy.describe())."""
    if not isinstance(desc, dict):
        return str(desc) if desc is not None else "-"
    mode = desc.get("mode")
    if mode == "continuous":
        return "continuous %s/day" % mcg(desc.get("dose_ng_day", 0))
    if mode == "flex":
        steps = ", ".join("%s from %s" % (mcg(s["dose_ng_day"]), clock(s["start_s"], desc.get("cycle")))
                          for s in desc.get("steps", []))
        return "flex (%s): %s per day" % (desc.get("cycle"), steps)
    return str(mode)


def clock(start_s, cycle):
    """A start within a flex cycle: '08:00', or 'Tue 08:00' in a week cycle."""
    hhmm = "%02d:%02d" % (start_s % 86400 // 3600, start_s % 3600 // 60)
    if cycle == "week":
        return "%s %s" % (DAYS[start_s // 86400 % 7], hhmm)
    return hhmm


def demand(desc):
    if not desc:
        return "off"
    return "%s over %s, lockout %s, at most %d/day" % (
        mcg(desc["dose_ng"]), format_span(desc["duration_s"]), format_span(desc["lockout_s"]), desc["max_per_day"])


def bolus(desc):
    if not desc:
        return "none"
    done = desc.get("steps_total", 0) - desc.get("steps_left", 0)
    return "%s bolus of %s, %d of %d steps made, at %s" % (
        desc.get("kind"), mcg(desc.get("dose_ng", 0)), done, desc.get("steps_total", 0),
        rate(desc.get("rate_nl_day")))


def alarms(items):
    if not items:
        return "none"
    return ", ".join("%s (%s%s)" % (a.get("code"), a.get("tier"), ", silenced" if a.get("silenced") else "")
                     for a in items)


# unit suffix -> (label suffix removed, renderer); the first match wins (longest suffixes first)
_DATES = ("t_s", "new_s", "old_s", "wall_s", "started_s", "since_s")


def label(key):
    """A reply key without its unit suffix, in words: 'refill_due_s' -> 'refill due'."""
    if "_ppm" in key:
        return key.replace("_", " ")
    if key.endswith("_pl_per_step"):
        return key[:-len("_pl_per_step")].replace("_", " ") + " step"
    if key.endswith("_mcg_ml"):
        return key[:-len("_mcg_ml")].replace("_", " ")
    for suffix in ("_per_step", "_nl_day", "_ng_day", "_due_s", "_pl", "_nl", "_ng", "_pg", "_ul", "_ml",
                   "_mcg", "_mv", "_ms", "_s", "_pct"):
        if key.endswith(suffix) and key != suffix.lstrip("_"):
            base = key[:-len(suffix)]
            return (base + (" due" if suffix == "_due_s" else "")).replace("_", " ")
    return key.replace("_", " ")


def value(key, v):
    """Any reply field in the user's units, chosen by the unit suffix of its key."""
    if key == "demand" and v is None:
        return "off"
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key == "therapy" or (key in ("old", "new") and isinstance(v, dict) and "mode" in v):
        return therapy(v)
    if key == "demand" and (v is None or isinstance(v, dict)):
        return demand(v)
    if key == "bolus" and isinstance(v, dict):
        return bolus(v)
    if key == "alarms" and isinstance(v, list) and all(isinstance(a, dict) for a in v):
        return alarms(v)
    if key == "changes" and isinstance(v, dict):
        return "; ".join("%s: %s -> %s" % (label(k), value(k, pair[0]), value(k, pair[1]))
                         if isinstance(pair, list) and len(pair) == 2 else "%s: %s" % (label(k), value(k, pair))
                         for k, pair in v.items())
    if isinstance(v, list):
        return ", ".join(value(key, x) for x in v) or "none"
    if isinstance(v, dict):
        return ", ".join("%s %s" % (label(k), value(k, x)) for k, x in v.items())
    if not isinstance(v, (int, float)):
        return str(v)
    if "_ppm" in key:
        return "%d" % v
    if key.endswith("_mcg_ml"):
        return "%s mcg/mL" % _num(v)
    if key.endswith("_mcg"):
        return "%s mcg" % _num(v)
    if key.endswith("_per_step"):
        return "%s nL/step" % _num(v / 1000) if key.endswith("pl_per_step") else "%s nL/step" % _num(v)
    if key.endswith("_nl_day"):
        return rate(v)
    if key.endswith("_ng_day"):
        return "%s/day" % mcg(v)
    if key.endswith("_due_s") or key in _DATES:
        return date(v)
    if key.endswith("_pl"):
        return volume(v)
    if key.endswith("_nl"):
        return volume(v * 1000)
    if key.endswith("_ul"):
        return volume(v * 1_000_000)
    if key.endswith("_ml"):
        return volume(v * 1_000_000_000)
    if key.endswith("_ng"):
        return mcg(v)
    if key.endswith("_pg"):
        return mcg(v / 1000)
    if key.endswith("_mv"):
        return "%d mV" % v
    if key.endswith("_ms"):
        return format_span(v // 1000) if v >= 1000 else "%d ms" % v
    if key.endswith("_s"):
        return format_span(v)
    if key.endswith("_pct"):
        return "%s %%" % _num(v, 2)
    return _num(v) if isinstance(v, float) else str(v)


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
    rows = [
        ("time", date(now)),
        ("therapy", therapy(st.get("therapy"))),
        ("basal rate", rate(st.get("rate_nl_day", 0))),
        ("drug", "%s %s mcg/mL" % (st.get("drug"), st.get("conc_mcg_ml")) if st.get("drug") else "none"),
        ("reservoir", "%s of %s" % (ml(st.get("reservoir_pl")), ml(st.get("capacity_nl", 0) * 1000))),
        ("delivered", "%s (%s)" % (ml(st.get("delivered_pl")), mcg(st.get("delivered_pg", 0) / 1000))),
        ("refill due", due(st.get("refill_due_s"), now)),
        ("low-reservoir alarm at", ml(st.get("low_reservoir_nl", 0) * 1000)),
        ("bolus", bolus(st.get("bolus"))),
        ("demand bolus", demand(st.get("demand"))),
        ("alarms", alarms(st.get("alarms"))),
        ("battery", "%s mV, replacement (ERI) %s" % (st.get("battery_mv"), due(st.get("battery_eri_due_s"), now))),
    ]
    if st.get("bridge_left_pl"):
        rows.append(("bridge bolus", "%s of the old concentration still to push" % volume(st["bridge_left_pl"])))
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
            rows.append(("authentication", "locked for %s more (too many failures)"
                         % format_span(keys_state["locked_s"])))
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
        rows.append((label(key) + (" *" if a != b else ""), _field(key, a, old), _field(key, b, new)))
    return _table("programme: present vs new (* changes)", rows, ("field", "present", "new"))


def _field(key, v, desc):
    if key == "steps" and isinstance(v, list):
        return "; ".join("%s %s/day" % (clock(s["start_s"], desc.get("cycle")), mcg(s["dose_ng_day"])) for s in v)
    return value(key, v) if v != "-" else v


_LAST = ("refill_due_s", "mock_reservoir_pl")


def result_table(title, reply):
    """A reply as rows in a stable order (a board's JSON object has no key order): alphabetical, with the
    refill date and the mock's truth last."""
    keys = sorted((k for k in reply if k not in ("id", "ok")), key=lambda k: (k in _LAST, _LAST.index(k)
                                                                            if k in _LAST else 0, label(k)))
    return _table(title, [(label(k), value(k, reply[k])) for k in keys])


LOG_COLUMNS = ("seq", "t_s", "date", "type", "data")


def event_text(data, kind=None):
    """An event's data in words (the log table); the CSV and JSON exports keep the raw fields. A `set`
    event holds {setting: [old, new]}."""
    if data is None:
        return ""
    if not isinstance(data, dict):
        return value("", data)
    if kind == "set":
        return value("changes", data)
    return "; ".join("%s %s" % (label(k), value(k, v)) for k, v in data.items())


def log_table(events):
    rows = [(e["seq"], date(e["t_s"]), e["type"], event_text(e.get("data"), e["type"])) for e in events]
    return _table("event log (%d records)" % len(events), rows, ("seq", "date", "type", "details"))
