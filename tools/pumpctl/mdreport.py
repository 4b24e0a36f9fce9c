"""`pumpctl report`: run a scenario, sample the pump every simulated day, write a Markdown report
with tables and PNG plots (timeline; and the IEC accuracy test of the scenario's simulated pump).

Files in the output folder: report.md, timeline.png, trumpet.png (unless accuracy is off), report.json
(the run's report v1 plus the samples and the accuracy result).
"""

import json
import os

from pumpctl import accuracy, plots
from pumpctl.runner import Runner, sim_options
from pumpctl.timefmt import format_duration

PERIOD_YEAR_S = 365 * 86400
PERIOD_MONTH_S = 30 * 86400


class SamplingRunner(Runner):
    """The scenario runner, also keeping the firmware's status and the mock's truth at every sample the
    runner takes (the start, every simulated day, every action, the end) for the plots. Built on the
    runner's public on_sample hook only."""

    def __init__(self, *args, **kw):
        if "on_sample" in kw:
            raise TypeError("SamplingRunner takes the samples itself")
        Runner.__init__(self, *args, on_sample=self.add_sample, **kw)
        self.samples = []

    def add_sample(self, t_s, status, mock):
        """Keep one sample, stamped with the pump's wall clock like its events. A second sample at the
        same second replaces the first unless an action changed what the plots show (a refill: the
        reservoir jumps at that second, with a sample on each side of it)."""
        sample = {"t_s": status["t_s"], "delivered_pl": status["delivered_pl"],
                  "delivered_pg": status["delivered_pg"], "tip_pg": self.tip_pg,
                  "reservoir_pl": status["reservoir_pl"], "low_reservoir_pl": status["low_reservoir_nl"] * 1000,
                  "mock_moved_pl": mock["moved_pl"], "mock_reservoir_pl": mock["reservoir_pl"],
                  "conc_mcg_ml": status.get("conc_mcg_ml"), "minimum_nl_day": status.get("minimum_nl_day", 0),
                  "battery_mv": status.get("battery_mv"), "stopped_by": status.get("stopped_by") or []}
        last = self.samples[-1] if self.samples else None
        if last is not None and last["t_s"] == sample["t_s"] and all(
                last[k] == sample[k] for k in ("reservoir_pl", "mock_reservoir_pl", "low_reservoir_pl")):
            self.samples[-1] = sample
        else:
            self.samples.append(sample)


def _ml(pl):
    return "%.3f" % (pl / 1e9)


def _when(t_s):
    return format_duration(t_s)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |")
    return "\n".join(lines)


def _section(title, header, rows, empty="none"):
    body = _table(header, rows) if rows else empty
    return "## %s\n\n%s\n" % (title, body)


def _therapy_text(desc):
    if not desc:
        return "-"
    mode = desc.get("mode", "?")
    if mode == "continuous":
        return "continuous %.3f mcg/day" % (desc["dose_ng_day"] / 1000)
    if mode == "flex":
        parts = ["%s %.3f" % (format_duration(s["start_s"]), s["dose_ng_day"] / 1000) for s in desc.get("steps", [])]
        return "flex (%s): %s mcg/day" % (desc.get("cycle", "?"), ", ".join(parts))
    return mode


def period_rows(samples, until_s):
    """Delivered volume and drug per year (per 30 days for runs under two years)."""
    span = PERIOD_YEAR_S if until_s >= 2 * PERIOD_YEAR_S else PERIOD_MONTH_S
    rows = []
    start = samples[0]
    next_edge = span
    for cur in samples[1:]:
        if cur["t_s"] >= next_edge or cur is samples[-1]:
            fw = cur["delivered_pl"] - start["delivered_pl"]
            mock = cur["mock_moved_pl"] - start["mock_moved_pl"]
            diff = "%+.2f" % (100.0 * (mock - fw) / fw) if fw else "-"
            rows.append((_when(start["t_s"]), _when(cur["t_s"]), _ml(fw), _ml(mock), diff,
                         "%.2f" % ((cur["delivered_pg"] - start["delivered_pg"]) / 1e9),
                         "%.2f" % ((cur.get("tip_pg", 0) - start.get("tip_pg", 0)) / 1e9)))
            start = cur
            while next_edge <= cur["t_s"]:
                next_edge += span
    return rows


def stop_rows(samples):
    """Spans of the samples in which delivery was blocked (status stopped_by), with the reasons."""
    rows = []
    start = None
    reasons = set()
    for sample in samples + [{"t_s": None, "stopped_by": []}]:
        if sample["stopped_by"]:
            if start is None:
                start = sample["t_s"]
            reasons.update(sample["stopped_by"])
        elif start is not None:
            end = _when(sample["t_s"]) if sample["t_s"] is not None else "end (still stopped)"
            rows.append(("%s" % _when(start), end, ", ".join(sorted(reasons))))
            start = None
            reasons = set()
    return rows


def event_sections(events):
    programs, refills, boluses, alarms, warnings = [], [], [], [], []
    cleared = {}
    for ev in reversed(events):
        if ev["type"] == "alarm_clear":
            cleared.setdefault(ev["data"]["code"], []).append(ev["t_s"])
    for ev in events:
        d = ev.get("data") or {}
        t = _when(ev["t_s"])
        if ev["type"] == "program":
            programs.append((t, _therapy_text(d.get("old")), _therapy_text(d.get("new")), d.get("why", "")))
        elif ev["type"] == "refill":
            before = d.get("before") or {}
            est = before.get("estimate_pl")
            refills.append((t, d.get("drug"), d.get("conc_mcg_ml"), "%.3f" % (d.get("volume_nl", 0) / 1e6),
                            _ml(est) if est is not None else "-"))
        elif ev["type"] == "bolus_start":
            boluses.append((t, d.get("kind"), "%.3f" % (d.get("dose_ng", 0) / 1000), d.get("steps"),
                            format_duration(d.get("duration_s", 0))))
        elif ev["type"] == "alarm_raise":
            later = [c for c in cleared.get(d.get("code"), []) if c >= ev["t_s"]]
            alarms.append((t, d.get("code"), d.get("tier"), _when(min(later)) if later else "active",
                           d.get("detail", "")))
        elif ev["type"] == "warning":
            detail = ", ".join("%s=%s" % (k, v) for k, v in sorted(d.items()) if k != "code")
            warnings.append((t, d.get("code"), detail))
    return [
        _section("Programme changes", ("time", "from", "to", "why"), programs),
        _section("Refills", ("time", "drug", "mcg/mL", "volume mL", "estimate before mL"), refills),
        _section("Boluses", ("start", "kind", "dose mcg", "steps", "duration"), boluses),
        _section("Alarms", ("raised", "code", "tier", "cleared", "detail"), alarms),
        _section("Warnings", ("time", "code", "detail"), warnings,
                 empty="none (a TUBING_SERVICE warning appears here when the firmware raises it)"),
    ]


def accuracy_section(result):
    rows = [("%d min" % r["window_min"], "%+.2f" % r["max_error_pct"], "%+.2f" % r["min_error_pct"], r["windows"])
            for r in result["trumpet"]]
    intro = ("IEC 60601-2-24 test of the simulated pump (the scenario's pump settings), %s at %.3f uL/h "
             "(%s %d mcg/mL), 30 s samples for 2 h; calibration %.3f nL/step, true %.3f nL/step. "
             "Flow-rate error over the second hour: **%+.2f %%** (mean %.3f uL/h)."
             % (result["source"], result["rate_ul_h"], result["drug"], result["conc_mcg_ml"], result["step_nl"],
                result["true_step_nl"], result["flow_error_pct"], result["mean_flow_ul_h"]))
    return "## Accuracy (IEC 60601-2-24)\n\n%s\n\n%s\n\n![trumpet curve](trumpet.png)\n" % (
        intro, _table(("window", "max error %", "min error %", "windows"), rows))


def timeline_subtitle(report, pump):
    """The simulated pump under the title: step volumes, realism, interpreter."""
    parts = ["step %g nL calibrated, %g nL true" % (report["step_nl"], report["true_step_nl"])]
    realism = realism_text(pump or {})
    parts.append(realism or "no noise, wear or battery drain")
    parts.append("firmware on %s" % report["interp"])
    return "; ".join(parts)


def realism_text(pump):
    """The scenario's mock realism settings in words, or None if it has none."""
    parts = []
    if pump.get("noise_ppm"):
        parts.append("noise +/-%d ppm per step (seed %d)" % (pump["noise_ppm"], pump.get("noise_seed", 1)))
    if pump.get("wear_ppm_per_ml"):
        parts.append("tubing wear %d ppm per mL" % pump["wear_ppm_per_ml"])
    if pump.get("battery_drain_uv_per_day"):
        parts.append("battery drain %d uV per day" % pump["battery_drain_uv_per_day"])
    return ", ".join(parts) or None


def summary_rows(report, pump=None):
    fw, mock = report["delivered_ul"], report["mock_delivered_ul"]
    rows = [
        ("simulated", format_duration(report["until_s"])),
        ("interpreter / wall time", "%s / %.1f s" % (report["interp"], report["wall_s"])),
        ("delivered, firmware count", "%.3f mL" % (fw / 1000)),
        ("delivered, truly moved (mock)", "%.3f mL (%+.2f %%)" % (mock / 1000, 100.0 * (mock - fw) / fw if fw else 0)),
        ("drug delivered (left the pump)", "%.3f mg" % (report["delivered_mcg"] / 1000)),
        ("drug at the catheter tip", "%.3f mg" % (report.get("tip_delivered_mcg", 0) / 1000)),
        ("reservoir at the end (estimate / true)", "%.3f / %.3f mL" % (report["reservoir_ul"] / 1000,
                                                                      report["mock_reservoir_ul"] / 1000)),
        ("step volume (calibrated / true)", "%g / %g nL" % (report["step_nl"], report["true_step_nl"])),
        ("steps / pulses", "%d / %d" % (report["steps"], report["pulses"])),
        ("therapy at the end", _therapy_text(report["therapy"])),
        ("alarms raised / refused actions", "%d / %d" % (len(report["alarms"]), len(report["refused"]))),
    ]
    realism = realism_text(pump or {})
    if realism:
        rows.append(("mock pump realism", realism))
    return rows


def write_report(scenario, out_dir, interp="micropython", rate_ul_h=20.0, with_accuracy=True, progress=None):
    """Run the scenario (and the accuracy test), write report.md + PNGs + report.json; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    runner = SamplingRunner(scenario, interp=interp, progress=progress)
    report = runner.run()
    samples = runner.samples
    paths = {"timeline": plots.plot_timeline(samples, report["events"], os.path.join(out_dir, "timeline.png"),
                                             title=scenario.name, subtitle=timeline_subtitle(report, scenario.pump))}
    parts = ["# Bench report: %s\n" % scenario.name,
             "Written by `pumpctl report`. Times are `days HH:MM:SS` of the pump's clock from the start.\n",
             "## Summary\n\n" + _table(("quantity", "value"), summary_rows(report, scenario.pump)) + "\n",
             "## Delivered per period\n\n" + _table(
                 ("from", "to", "firmware mL", "truly moved mL", "difference %", "drug mg", "at the tip mg"),
                 period_rows(samples, report["until_s"])) + "\n",
             "## Timeline\n\n![delivered dose and reservoir](timeline.png)\n"]
    parts.append(_section("Delivery stops (seen at the daily samples)", ("from", "until", "stopped by"),
                          stop_rows(samples)))
    parts.extend(event_sections(report["events"]))
    refused = [(_when(r["t_s"]), "actions[%d] %s" % (r["index"], r["do"]), r["error"], r.get("msg") or "")
               for r in report["refused"]]
    parts.append(_section("Refused actions", ("time", "action", "error", "message"), refused))
    if report.get("samples"):
        parts.append(_section("Samples", ("time", "label", "delivered mL", "drug mg", "at the tip mg",
                                          "reservoir mL", "rate uL/h", "alarms"), [
            (_when(sm["t_s"]), sm.get("label", ""), "%.3f" % (sm["delivered_ul"] / 1000),
             "%.3f" % (sm["delivered_mcg"] / 1000), "%.3f" % (sm["tip_delivered_mcg"] / 1000),
             "%.3f" % (sm["reservoir_ul"] / 1000), "%.3f" % sm["rate_ul_h"], ", ".join(sm["alarms_active"]) or "-")
            for sm in report["samples"]]))
    if report.get("calibrations"):
        parts.append(_section("Calibrations", ("time", "nL/step", "U (k=2) nL", "runs x steps", "was nL/step",
                                               "written"), [
            (_when(c["t_s"]), "%.4f" % c["nl_per_step"], "%.4f" % c["expanded_nl"], "%d x %d" % (c["runs"], c["steps"]),
             "%.3f" % c["old_nl_per_step"], "%.3f" % c["written_nl_per_step"] if c["written"] else "no")
            for c in report["calibrations"]]))
    result = None
    if with_accuracy:
        link = accuracy.open_sim(interp, **sim_options(scenario))
        try:
            result = accuracy.sim_accuracy(link, rate_ul_h)
        finally:
            link.close()
        paths["trumpet"] = plots.plot_trumpet(result, os.path.join(out_dir, "trumpet.png"),
                                              title="simulated pump, %.3g uL/h" % result["rate_ul_h"])
        parts.append(accuracy_section(result))
    paths["markdown"] = os.path.join(out_dir, "report.md")
    with open(paths["markdown"], "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    paths["json"] = os.path.join(out_dir, "report.json")
    with open(paths["json"], "w", encoding="utf-8") as fh:
        json.dump({"report": report, "samples": samples, "accuracy": result}, fh)
    return paths
