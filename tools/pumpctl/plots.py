"""PNG plots for bench reports (matplotlib, Agg canvas: no display needed).

- plot_trumpet: the IEC 60601-2-24 start-up graph (flow per sample interval over the test) and the
  trumpet curve (max and min mean flow error per observation window) from accuracy.analyse().
- plot_timeline: delivered dose and reservoir over a long run, from mdreport samples, with programme
  changes, refills, boluses, alarms and warnings marked from the report's events.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

DAY_S = 86400
YEAR_S = 365.25 * DAY_S
DPI = 100

# event type -> (colour, line style, legend label)
MARKS = {
    "program": ("tab:blue", "--", "programme change"),
    "refill": ("tab:green", "-", "refill"),
    "bolus_start": ("tab:orange", "-", "bolus"),
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
    fig.savefig(str(path), format="png", dpi=DPI)
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


def daily_dose_mcg(samples):
    """(t_s, mcg/day) between consecutive samples from the firmware's delivered drug count."""
    out = []
    for prev, cur in zip(samples, samples[1:]):
        span_s = cur["t_s"] - prev["t_s"]
        if span_s > 0:
            out.append((cur["t_s"], (cur["delivered_pg"] - prev["delivered_pg"]) / 1e6 * DAY_S / span_s))
    return out


def plot_timeline(samples, events, path, title=None):
    """Dose rate, cumulative delivered volume and reservoir over the run, with events marked."""
    until_s = samples[-1]["t_s"] if samples else 1
    scale, unit = _time_axis(until_s)
    fig, (dose_ax, vol_ax, res_ax) = _new_figure(12, 8, 3, 1, sharex=True)
    x = [s["t_s"] / scale for s in samples]
    dose = daily_dose_mcg(samples)
    dose_ax.step([t / scale for t, _ in dose], [v for _, v in dose], where="pre", color="black", linewidth=0.8)
    dose_ax.set_ylabel("dose (mcg/day)")
    dose_ax.set_ylim(bottom=0)
    vol_ax.plot(x, [s["delivered_pl"] / 1e9 for s in samples], color="black", label="firmware count")
    vol_ax.plot(x, [s["mock_moved_pl"] / 1e9 for s in samples], color="tab:cyan", linestyle="--",
                label="truly moved (mock)")
    vol_ax.set_ylabel("delivered (mL)")
    vol_ax.legend(loc="upper left", fontsize="small")
    res_ax.plot(x, [s["reservoir_pl"] / 1e9 for s in samples], color="black", label="firmware estimate")
    res_ax.plot(x, [s["mock_reservoir_pl"] / 1e9 for s in samples], color="tab:cyan", linestyle="--",
                label="true (mock)")
    res_ax.set_ylabel("reservoir (mL)")
    res_ax.set_xlabel("time (%s)" % unit)
    res_ax.legend(loc="upper right", fontsize="small")

    seen = set()
    open_bolus = None
    for ev in events:
        kind = ev["type"]
        t = ev["t_s"] / scale
        if kind == "bolus_end" and open_bolus is not None:
            for ax in (dose_ax, vol_ax, res_ax):
                ax.axvspan(open_bolus, max(t, open_bolus + 0.2 / scale * DAY_S), color="tab:orange", alpha=0.25)
            open_bolus = None
            continue
        if kind not in MARKS:
            continue
        if kind == "bolus_start":
            open_bolus = t
        colour, style, _ = MARKS[kind]
        seen.add(kind)
        for ax in (dose_ax, vol_ax, res_ax):
            ax.axvline(t, color=colour, linestyle=style, linewidth=1.0)
        if kind in ("alarm_raise", "warning"):
            code = (ev.get("data") or {}).get("code", "")
            dose_ax.annotate(code, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                             color=colour, va="top", ha="right")
    handles = [Line2D([0], [0], color=MARKS[k][0], linestyle=MARKS[k][1], label=MARKS[k][2])
               for k in MARKS if k in seen]
    if handles:
        dose_ax.legend(handles=handles, loc="upper left", fontsize="small", ncol=len(handles))
    for ax in (dose_ax, vol_ax, res_ax):
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, until_s / scale)
    if title:
        dose_ax.set_title(title)
    return _save(fig, path)


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; raises ValueError if the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError("%s is not a PNG file" % path)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
