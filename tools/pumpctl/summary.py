"""Readable summary of a scenario report, for people (rich tables)."""

import datetime

from rich.console import Console
from rich.table import Table

from pumpctl.timefmt import format_duration

PUMP_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def pump_date(t_s):
    """A pump wall second as a date (the pump epoch is 2024-01-01 00:00 UTC; the simulator's t=0)."""
    return (PUMP_EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M UTC")


def print_summary(report, console=None):
    console = console or Console()
    console.print("[bold]%s[/bold]  (%s, %s simulated in %.1f s)" % (
        report["name"], report["interp"], format_duration(report["until_s"]), report["wall_s"]))
    table = Table(show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("delivered (firmware count)", "%.3f uL" % report["delivered_ul"]),
        ("delivered (mock pump, truly moved)", "%.3f uL" % report["mock_delivered_ul"]),
        ("drug delivered", "%.3f mcg" % report["delivered_mcg"]),
        ("reservoir estimate", "%.3f uL" % report["reservoir_ul"]),
        ("reservoir (mock, true)", "%.3f uL" % report["mock_reservoir_ul"]),
        ("steps / pulses", "%d / %d" % (report["steps"], report["pulses"])),
        ("step volume (calibrated / true)", "%g / %g nL" % (report["step_nl"], report["true_step_nl"])),
        ("therapy now", _therapy(report)),
        ("refill due", "%s (%s)" % (pump_date(report["refill_due_s"]), format_duration(report["refill_due_s"]))
         if report["refill_due_s"] is not None else "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if report["alarms"]:
        alarms = Table(title="alarms", show_header=True, header_style="bold")
        alarms.add_column("time")
        alarms.add_column("code")
        alarms.add_column("tier")
        for alarm in report["alarms"]:
            alarms.add_row(format_duration(alarm["t_s"]), alarm["code"], alarm["tier"])
        console.print(alarms)
    else:
        console.print("alarms: none")
    if report["refused"]:
        refused = Table(title="refused actions", show_header=True, header_style="bold")
        for col in ("time", "action", "error", "message"):
            refused.add_column(col)
        for item in report["refused"]:
            refused.add_row(format_duration(item["t_s"]), "actions[%d] %s" % (item["index"], item["do"]),
                            item["error"], item.get("msg") or "")
        console.print(refused)
    resets = report.get("resets") or []
    if resets:
        missed = sum(r["missed_max_ul"] for r in resets)
        reserve = sum(r["reserve_ul"] for r in resets)
        console.print("resets: %d (causes: %s); delivery missed while off: at most %.3f uL (logged, not made up); "
                      "counted as delivered for safety: %.3f uL" % (
                          len(resets), ", ".join(sorted(set(r["cause"] for r in resets))), missed, reserve))
    console.print("events logged: %d" % len(report["events"]))


def _therapy(report):
    therapy = report["therapy"]
    if therapy["mode"] == "stopped":
        return "stopped"
    return "%s %.3f mcg/day of %s at %d mcg/mL" % (
        therapy["mode"], therapy["dose_ng_day"] / 1000, report["drug"], report["conc_mcg_ml"])
