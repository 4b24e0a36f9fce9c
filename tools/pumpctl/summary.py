"""Readable summary of a scenario report, for people (rich tables)."""

from rich.console import Console
from rich.table import Table

from pumpctl.timefmt import format_duration


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
        ("refill due", format_duration(report["refill_due_s"]) if report["refill_due_s"] is not None
         else "-"),
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
    console.print("events logged: %d" % len(report["events"]))


def _therapy(report):
    therapy = report["therapy"]
    if therapy["mode"] == "stopped":
        return "stopped"
    return "%s %.3f mcg/day of %s at %d mcg/mL" % (
        therapy["mode"], therapy["dose_ng_day"] / 1000, report["drug"], report["conc_mcg_ml"])
