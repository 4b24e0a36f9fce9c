"""Readable summary of a scenario report, for people (rich tables, in mL, mcg, dates and `1h30m`)."""

import datetime

from rich.console import Console
from rich.table import Table

from pumpctl import devview
from pumpctl.timefmt import format_span

PUMP_EPOCH = devview.EPOCH


def pump_date(t_s):
    """A pump wall second as a date (the pump epoch is 2024-01-01 00:00 UTC; the simulator's t=0)."""
    return (PUMP_EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M UTC")


def _ml(ul):
    return "%.3f mL" % (ul / 1000)


def _mcg(mcg):
    return "%.3f mg" % (mcg / 1000) if abs(mcg) >= 10_000 else "%.3f mcg" % mcg


def therapy_line(report):
    """The therapy with its drug: 'flex (day): 400 mcg from 00:00, ... per day of baclofen at 2000 mcg/mL'."""
    therapy = report.get("therapy") or {}
    text = devview.therapy(therapy)
    if therapy.get("mode") in (None, "stopped") or not report.get("drug"):
        return text
    return "%s of %s at %d mcg/mL" % (text, report["drug"], report["conc_mcg_ml"])


def print_summary(report, console=None):
    console = console or Console()
    console.print("[bold]%s[/bold]  (%s, %s simulated in %.1f s)" % (
        report["name"], report["interp"], format_span(report["until_s"]), report["wall_s"]))
    table = Table(show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("delivered (firmware count)", _ml(report["delivered_ul"])),
        ("delivered (mock pump, truly moved)", _ml(report["mock_delivered_ul"])),
        ("drug delivered (left the pump)", _mcg(report["delivered_mcg"])),
        ("drug at the catheter tip", _mcg(report["tip_delivered_mcg"])) if "tip_delivered_mcg" in report else None,
        ("reservoir estimate", _ml(report["reservoir_ul"])),
        ("reservoir (mock, true)", _ml(report["mock_reservoir_ul"])),
        ("steps / pulses", "%d / %d" % (report["steps"], report["pulses"])),
        ("step volume (calibrated / true)", "%g / %g nL" % (report["step_nl"], report["true_step_nl"])),
        ("therapy now", therapy_line(report)),
        ("refill due", "%s (day %d)" % (pump_date(report["refill_due_s"]), report["refill_due_s"] // 86400)
         if report["refill_due_s"] is not None else "-"),
    ]
    for row in rows:
        if row is not None:
            table.add_row(*row)
    console.print(table)
    if report["alarms"]:
        alarms = Table(title="alarms", show_header=True, header_style="bold")
        for col in ("when", "date", "code", "tier"):
            alarms.add_column(col)
        for alarm in report["alarms"]:
            alarms.add_row(format_span(alarm["t_s"]), pump_date(alarm["t_s"]), alarm["code"], alarm["tier"])
        console.print(alarms)
    else:
        console.print("alarms: none")
    if report["refused"]:
        refused = Table(title="refused actions", show_header=True, header_style="bold")
        for col in ("when", "action", "error", "message"):
            refused.add_column(col)
        for item in report["refused"]:
            refused.add_row(format_span(item["t_s"]), "actions[%d] %s" % (item["index"], item["do"]),
                            item["error"], item.get("msg") or "")
        console.print(refused)
    _print_samples(console, report.get("samples") or [])
    for cal in report.get("calibrations") or []:
        console.print("calibration at %s (actions[%d]): %.4f nL/step +/- %.4f nL (k=2) over %d run(s) of %d steps; "
                      "was %.3f nL/step%s" % (format_span(cal["t_s"]), cal["index"], cal["nl_per_step"],
                                              cal["expanded_nl"], cal["runs"], cal["steps"], cal["old_nl_per_step"],
                                              ", written %.3f" % cal["written_nl_per_step"] if cal["written"]
                                              else ", not written"))
    resets = report.get("resets") or []
    if resets:
        missed = sum(r["missed_max_ul"] for r in resets)
        reserve = sum(r["reserve_ul"] for r in resets)
        console.print("resets: %d (causes: %s); delivery missed while off: at most %.3f uL (logged, not made up); "
                      "counted as delivered for safety: %.3f uL" % (
                          len(resets), ", ".join(sorted(set(r["cause"] for r in resets))), missed, reserve))
    console.print("events logged: %d" % len(report["events"]))


def _print_samples(console, samples):
    if not samples:
        return
    table = Table(title="samples", show_header=True, header_style="bold")
    for col in ("when", "label", "delivered", "drug out", "at tip", "reservoir", "rate", "alarms"):
        table.add_column(col)
    for s in samples:
        table.add_row(format_span(s["t_s"]), s.get("label", ""), _ml(s["delivered_ul"]), _mcg(s["delivered_mcg"]),
                      _mcg(s["tip_delivered_mcg"]), _ml(s["reservoir_ul"]), "%.3f uL/h" % s["rate_ul_h"],
                      ", ".join(s["alarms_active"]) or "none")
    console.print(table)
