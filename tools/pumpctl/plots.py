"""PNG plots for bench reports (matplotlib, Agg canvas: no display needed).

- plot_trumpet: the IEC 60601-2-24 start-up graph (flow per sample interval over the test) and the
  trumpet curve (max and min mean flow error per observation window) from accuracy.analyse().
- plot_timeline: the programmed dose against the delivered one (at the pump and at the catheter tip),
  the delivered volume and the reservoir with its low threshold over a long run, from mdreport
  samples, with programme changes, refills, boluses, bridges, stops, alarms and warnings marked from
  the report's events; the mock realism in the subtitle.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

DAY_S = 86400
YEAR_S = 365.25 * DAY_S
DPI = 100

PNG_METADATA = {"Software": "pumpctl plots"}     # no matplotlib version: the same picture, the same bytes

# event type -> (colour, line style, legend label)
MARKS = {
    "program": ("tab:blue", "--", "programme change"),
    "refill": ("tab:green", "-", "refill"),
    "bolus_start": ("tab:orange", "-", "bolus / prime (shaded: its span)"),
    "alarm_raise": ("tab:red", "-", "alarm"),
    "warning": ("tab:purple", ":", "warning"),
}


def _new_figure(width_in, height_in, rows=1, cols=1, sharex=False):
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(str(path), format="png", dpi=DPI, metadata=PNG_METADATA)
    return str(path)


def plot_trumpet(result, path, title=None):
    """Start-up graph and trumpet curve of one accuracy result; returns the path written."""
    fig, (flow_ax, trumpet_ax) = _new_figure(11, 4.5, 1, 2)
    interval_s = result["interval_s"]
    flows = result["interval_flows_ul_h"]
    t_min = [(k + 1) * interval_s / 60.0 for k in range(len(flows))]
    flow_ax.step(t_min, flows, where="post", color="tab:blue", linewidth=0.8, label="flow per %d s" % interval_s)
    flow_ax.axhline(result["rate_ul_h"], color="black", linewidth=1, label="set rate %.3g uL/h" % result["rate_ul_h"])
    start_min = result["analysis_start_s"] / 60.0
    flow_ax.axvspan(start_min, start_min + result["analysis_s"] / 60.0, color="tab:gray", alpha=0.15,
                    label="analysis period")
    flow_ax.set_xlabel("time (min)")
    flow_ax.set_ylabel("flow (uL/h)")
    flow_ax.set_title("start-up graph")
    flow_ax.legend(loc="lower right", fontsize="small")
    flow_ax.grid(True, alpha=0.3)

    windows = [row["window_min"] for row in result["trumpet"]]
    highs = [row["max_error_pct"] for row in result["trumpet"]]
    lows = [row["min_error_pct"] for row in result["trumpet"]]
    trumpet_ax.plot(windows, highs, "o-", color="tab:red", label="max error")
    trumpet_ax.plot(windows, lows, "s-", color="tab:blue", label="min error")
    trumpet_ax.axhline(result["flow_error_pct"], color="black", linestyle="--",
                       label="flow error A = %+.2f %%" % result["flow_error_pct"])
    trumpet_ax.axhline(0, color="tab:gray", linewidth=0.8)
    for w, hi, lo in zip(windows, highs, lows):
        trumpet_ax.annotate("%+.1f" % hi, (w, hi), textcoords="offset points", xytext=(0, 5), ha="center",
                            fontsize="x-small")
        trumpet_ax.annotate("%+.1f" % lo, (w, lo), textcoords="offset points", xytext=(0, -11), ha="center",
                            fontsize="x-small")
    trumpet_ax.set_xticks(windows)
    trumpet_ax.set_xlabel("observation window (min)")
    trumpet_ax.set_ylabel("flow error (%)")
    trumpet_ax.set_title("trumpet curve (second hour)")
    trumpet_ax.legend(loc="upper right", fontsize="small")
    trumpet_ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _time_axis(until_s):
    if until_s > 2 * YEAR_S:
        return YEAR_S, "years"
    return DAY_S, "days"


def daily_dose_mcg(samples, key="delivered_pg"):
    """(t_s, mcg/day) between consecutive samples from a cumulative drug count in pg (the firmware's
    delivered_pg: what left the pump; tip_pg: what left the catheter's tip)."""
    out = []
    for prev, cur in zip(samples, samples[1:]):
        span_s = cur["t_s"] - prev["t_s"]
        if span_s > 0 and key in cur and key in prev:
            out.append((cur["t_s"], (cur[key] - prev[key]) / 1e6 * DAY_S / span_s))
    return out


def _flex_points(therapy, t0, t1):
    """(t_s, mcg/day) steps of a flex programme between t0 and t1 (cycles aligned to the wall clock)."""
    cycle = 7 * DAY_S if therapy.get("cycle") == "week" else DAY_S
    steps = sorted((st["start_s"], st["dose_ng_day"] / 1000) for st in therapy.get("steps") or [])
    if not steps:
        return [(t0, 0.0)]
    phase = t0 % cycle
    current = steps[-1][1]
    for start, dose in steps:
        if start <= phase:
            current = dose
    points = [(t0, current)]
    base = t0 - phase
    while base < t1:
        for start, dose in steps:
            t = base + start
            if t0 < t < t1:
                points.append((t, dose))
        base += cycle
    return points


def programmed_profile(events, samples, until_s):
    """The programmed basal dose as steps [(t_s, mcg/day)] from the programme events: continuous, flex
    (every step of every cycle), minimum (the minimum rate at the concentration then), stopped (0)."""
    changes = [(ev["t_s"], (ev.get("data") or {}).get("new")) for ev in events if ev["type"] == "program"]
    points = [(0, 0.0)]
    for i, (t0, therapy) in enumerate(changes):
        t1 = changes[i + 1][0] if i + 1 < len(changes) else until_s
        mode = (therapy or {}).get("mode")
        if mode == "continuous":
            points.append((t0, therapy["dose_ng_day"] / 1000))
        elif mode == "flex":
            points.extend(_flex_points(therapy, t0, max(t1, t0 + 1)))
        elif mode == "minimum":
            near = [sm for sm in samples if sm["t_s"] >= t0] or samples[-1:]
            sm = near[0] if near else {}
            points.append((t0, sm.get("minimum_nl_day", 0) * (sm.get("conc_mcg_ml") or 0) / 1e6))
        else:
            points.append((t0, 0.0))
    points.append((until_s, points[-1][1]))
    return points


def binned_profile(points, until_s, bins=600):
    """A step profile [(t_s, value from t_s on)] over [0, until_s) summarised per bin (as many as the
    plot has pixels, about): [(bin start, min, max, time-weighted mean)]. A flex programme of years has
    thousands of steps, more than the pixels that could show them: the plot draws their range as a band
    and the mean as the line."""
    width = until_s / bins
    out = []
    i = 0
    value = points[0][1] if points else 0.0
    for b in range(bins):
        start, end = b * width, (b + 1) * width
        while i < len(points) and points[i][0] <= start:
            value = points[i][1]
            i += 1
        lo = hi = value
        area = 0.0
        t, v = start, value
        j = i
        while j < len(points) and points[j][0] < end:
            area += v * (points[j][0] - t)
            t, v = points[j][0], points[j][1]
            lo, hi = min(lo, v), max(hi, v)
            j += 1
        area += v * (end - t)
        out.append((start, lo, hi, area / width))
    return out


def _draw_programme(ax, profile, until_s, x):
    if len(profile) <= 600:
        ax.step([x(t) for t, _ in profile], [v for _, v in profile], where="post", color="black", linewidth=1.2,
                label="programmed (basal)")
        return
    bins = binned_profile(profile, until_s)
    edges = [x(b[0]) for b in bins] + [x(until_s)]
    ax.stairs([b[2] for b in bins], edges, baseline=[b[1] for b in bins], fill=True, color="0.75", linewidth=0,
              label="programmed: range of the flex steps")
    ax.stairs([b[3] for b in bins], edges, baseline=None, color="black", linewidth=1.2,
              label="programmed (basal; flex: mean)")


def bolus_spans(events):
    """[(start_s, end_s, kind, mcg/day on top of the basal rate)] of the boluses (calibration runs left out)."""
    spans = []
    open_at = None
    for ev in events:
        data = ev.get("data") or {}
        if ev["type"] == "bolus_start":
            open_at = ev
        elif ev["type"] == "bolus_end" and open_at is not None:
            d = open_at.get("data") or {}
            if d.get("kind") != "calibration":
                duration = max(d.get("duration_s") or 1, 1)
                spans.append((open_at["t_s"], max(ev["t_s"], open_at["t_s"] + 1), d.get("kind") or data.get("kind"),
                              (d.get("dose_ng") or 0) / 1000 * DAY_S / duration))
            open_at = None
    return spans


def _spans(events, start, end):
    out = []
    t_open = None
    for ev in events:
        if ev["type"] == start:
            t_open = ev["t_s"]
        elif ev["type"] == end and t_open is not None:
            out.append((t_open, ev["t_s"]))
            t_open = None
    return out, t_open


def _stop_spans(samples):
    spans, t_open = [], None
    for sm in samples:
        if sm.get("stopped_by") and t_open is None:
            t_open = sm["t_s"]
        elif not sm.get("stopped_by") and t_open is not None:
            spans.append((t_open, sm["t_s"]))
            t_open = None
    if t_open is not None:
        spans.append((t_open, samples[-1]["t_s"]))
    return spans


def dose_axis_top(profile, outlet, tip, headroom=1.25):
    """The dose axis' top: 25 % above the programme and the daily means, so no line sits on the frame.
    A mean over less than half a day (between an action's samples: a bolus, a prime) does not count: it
    may go off the top, its span is shaded."""
    long_means = [v for series in (outlet, tip) for (t, v), prev in zip(series, [(0, 0)] + series[:-1])
                  if t - prev[0] >= DAY_S / 2]
    return max([v for _, v in profile] + long_means + [1.0]) * headroom


def _legend_outside(ax, handles=None):
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def plot_timeline(samples, events, path, title=None, subtitle=None):
    """Three panels over the run, legends beside them (never over the data):
    - dose: the programmed basal dose (every flex step), the boluses on top of it, and the delivered
      dose as daily averages at the pump's outlet and at the catheter's tip (a bridge shows as the
      outlet's dip with the tip on the programme), with delivery stops and bridges shaded;
    - delivered volume: the firmware's count and what the mock truly moved;
    - reservoir: the firmware's estimate, the mock's truth and the low-reservoir threshold.
    Programme changes, refills, alarms and warnings are vertical lines on every panel."""
    until_s = samples[-1]["t_s"] if samples else 1
    scale, unit = _time_axis(until_s)
    fig, (dose_ax, vol_ax, res_ax) = _new_figure(13, 9, 3, 1, sharex=True)
    fig.subplots_adjust(left=0.07, right=0.78, top=0.91, bottom=0.06, hspace=0.12)

    def x(t):
        return t / scale

    # dose panel
    profile = programmed_profile(events, samples, until_s)
    _draw_programme(dose_ax, profile, until_s, x)
    for t0, t1, _kind, _extra in bolus_spans(events):
        dose_ax.axvspan(x(t0), x(t1), color="tab:orange", alpha=0.35, linewidth=0)
    outlet = daily_dose_mcg(samples)
    dose_ax.step([x(t) for t, _ in outlet], [v for _, v in outlet], where="pre", color="tab:blue", linewidth=0.9,
                 label="delivered at the pump (daily mean)")
    tip = daily_dose_mcg(samples, "tip_pg")
    if tip:
        dose_ax.step([x(t) for t, _ in tip], [v for _, v in tip], where="pre", color="tab:olive", linewidth=1.4,
                     linestyle="--", label="at the catheter tip (daily mean)")
    bridges, bridge_open = _spans(events, "bridge_start", "bridge_end")
    if bridge_open is not None:
        bridges.append((bridge_open, until_s))
    for i, (t0, t1) in enumerate(bridges):
        dose_ax.axvspan(x(t0), x(t1), color="tab:purple", alpha=0.15, linewidth=0,
                        label="bridge bolus (old drug at the tip)" if i == 0 else None)
    for i, (t0, t1) in enumerate(_stop_spans(samples)):
        for ax in (dose_ax, vol_ax, res_ax):
            ax.axvspan(x(t0), x(t1), color="tab:red", alpha=0.12, linewidth=0,
                       label="delivery stopped" if i == 0 and ax is dose_ax else None)
    dose_ax.set_ylim(0, dose_axis_top(profile, outlet, tip))
    dose_ax.set_ylabel("dose (mcg/day)")

    # delivered volume
    ts = [x(sm["t_s"]) for sm in samples]
    vol_ax.plot(ts, [sm["delivered_pl"] / 1e9 for sm in samples], color="black", label="firmware count")
    vol_ax.plot(ts, [sm["mock_moved_pl"] / 1e9 for sm in samples], color="tab:cyan", linestyle="--",
                label="truly moved (mock)")
    vol_ax.set_ylabel("delivered (mL)")
    vol_ax.set_ylim(bottom=0)

    # reservoir, with the low-reservoir threshold
    res_ax.plot(ts, [sm["reservoir_pl"] / 1e9 for sm in samples], color="black", label="firmware estimate")
    res_ax.plot(ts, [sm["mock_reservoir_pl"] / 1e9 for sm in samples], color="tab:cyan", linestyle="--",
                label="true (mock)")
    if any("low_reservoir_pl" in sm for sm in samples):
        res_ax.step(ts, [sm.get("low_reservoir_pl", 0) / 1e9 for sm in samples], where="post", color="tab:red",
                    linestyle=":", linewidth=1.2, label="low-reservoir threshold")
    top = max([sm["reservoir_pl"] for sm in samples] + [sm["mock_reservoir_pl"] for sm in samples] + [1]) / 1e9
    res_ax.set_ylim(0, top * 1.15)
    res_ax.set_ylabel("reservoir (mL)")
    res_ax.set_xlabel("time (%s from the start)" % unit)

    # events: vertical lines on every panel, named in the dose panel's legend
    seen = set()
    for ev in events:
        kind = ev["type"]
        if kind not in MARKS:
            continue
        colour, style, name = MARKS[kind]
        for ax in (dose_ax, vol_ax, res_ax):
            ax.axvline(x(ev["t_s"]), color=colour, linestyle=style, linewidth=0.9)
        seen.add(kind)
        if kind in ("alarm_raise", "warning"):
            code = (ev.get("data") or {}).get("code", "")
            res_ax.annotate(code, (x(ev["t_s"]), 0.02), xycoords=("data", "axes fraction"), rotation=90,
                            fontsize=6, color=colour, va="bottom", ha="right")
    handles, _ = dose_ax.get_legend_handles_labels()
    handles += [Line2D([0], [0], color=MARKS[k][0], linestyle=MARKS[k][1], label=MARKS[k][2])
                for k in MARKS if k in seen]
    _legend_outside(dose_ax, handles)
    _legend_outside(vol_ax)
    _legend_outside(res_ax)
    for ax in (dose_ax, vol_ax, res_ax):
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, x(until_s))
    if title:
        fig.suptitle(title, fontsize="large")
    if subtitle:
        fig.text(0.5, 0.935, subtitle, ha="center", fontsize="small", color="dimgray")
    fig.savefig(str(path), format="png", dpi=DPI, metadata=PNG_METADATA)
    return str(path)


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; raises ValueError if the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError("%s is not a PNG file" % path)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
