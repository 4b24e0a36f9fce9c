"""Flow accuracy after IEC 60601-2-24: flow-rate error over the analysis period and trumpet curves.

The test: the pump runs at a set rate r for 2 h while a balance under the outlet is read every 30 s.
From the cumulative volume V_k at t_k = k * 30 s:
- flow-rate error A = 100 (Q - r) / r, Q the mean flow over the analysis period (by default the
  second hour, t = 60..120 min);
- trumpet curve: for each observation window of P = 2, 5, 11, 19, 31 min (p = P / 0.5 min sample
  intervals), the mean flow error over every window of p consecutive intervals that lies within the
  analysis period, sliding one interval at a time: E_j = 100 ((V_{a+j+p} - V_{a+j}) / (p dt) - r) / r;
  the curve is max_j E_j and min_j E_j against P.
The volumes come from a balance CSV (balance_csv.py) or from the simulator: the pulse times of its
step log and the true volume of each pulse (measure_on_sim). Evaporation is not corrected for.
"""

import math

from pumpctl import simtree

SAMPLE_S = 30
TEST_S = 7200
ANALYSIS_START_S = 3600
ANALYSIS_S = 3600
WINDOWS_MIN = (2, 5, 11, 19, 31)
MAX_GAP_INTERVALS = 2   # a balance log may miss one reading; a longer gap is refused


class AccuracyError(ValueError):
    pass


# --- volumes on the sampling grid ------------------------------------------------------------------

def grid_from_log(log, density_g_ml=None, interval_s=SAMPLE_S):
    """Cumulative volume (uL) on a regular grid from the first reading, by linear interpolation
    between balance readings (a bench balance is not read exactly every 30 s)."""
    volumes = log.volumes_ul(density_g_ml)
    times = [t - log.times_s[0] for t in log.times_s]
    for i in range(1, len(times)):
        if times[i] - times[i - 1] > MAX_GAP_INTERVALS * interval_s:
            raise AccuracyError("%s:%d: %g s without a reading (at most %d s)" % (
                log.source, log.lines[i], times[i] - times[i - 1], MAX_GAP_INTERVALS * interval_s))
    count = int(times[-1] // interval_s) + 1
    grid = []
    i = 0
    for k in range(count):
        t = k * interval_s
        while times[i + 1] < t:
            i += 1
        t0, t1 = times[i], times[i + 1]
        grid.append(volumes[i] + (volumes[i + 1] - volumes[i]) * (t - t0) / (t1 - t0))
    return grid


def grid_from_steps(times_ms, volumes_pl, t0_ms, duration_s, interval_s=SAMPLE_S):
    """Cumulative volume (uL) at t0 + k * interval for k = 0..duration/interval, counting every pulse
    at or before each sample time. volumes_pl: a list (one per pulse) or one int for all pulses."""
    count = duration_s // interval_s + 1
    grid = []
    total_pl = 0
    i = 0
    n = len(times_ms)
    for k in range(count):
        t_ms = t0_ms + k * interval_s * 1000
        while i < n and times_ms[i] <= t_ms:
            total_pl += volumes_pl if isinstance(volumes_pl, int) else volumes_pl[i]
            i += 1
        grid.append(total_pl / 1e6)
    return grid


# --- the analysis ------------------------------------------------------------------------------------

def analyse(volumes_ul, rate_ul_h, interval_s=SAMPLE_S, analysis_start_s=ANALYSIS_START_S,
            analysis_s=ANALYSIS_S, windows_min=WINDOWS_MIN):
    """Flow-rate error and trumpet curve from cumulative volumes on a regular grid (volumes_ul[k] at
    k * interval_s from the start of the test). Errors in percent of the set rate."""
    if rate_ul_h <= 0:
        raise AccuracyError("the set rate must be above 0")
    if analysis_start_s % interval_s or analysis_s % interval_s or analysis_s <= 0:
        raise AccuracyError("the analysis period must be whole sample intervals of %d s" % interval_s)
    a = analysis_start_s // interval_s
    m = analysis_s // interval_s
    have_s = (len(volumes_ul) - 1) * interval_s
    if a + m > len(volumes_ul) - 1:
        raise AccuracyError("the test covers %d s; the analysis period needs %d s" % (
            have_s, analysis_start_s + analysis_s))

    def error_pct(first, intervals):
        flow_ul_h = (volumes_ul[first + intervals] - volumes_ul[first]) * 3600.0 / (intervals * interval_s)
        return 100.0 * (flow_ul_h - rate_ul_h) / rate_ul_h

    trumpet = []
    for window_min in windows_min:
        if (window_min * 60) % interval_s:
            raise AccuracyError("a %g min window is not whole %d s intervals" % (window_min, interval_s))
        p = window_min * 60 // interval_s
        if p > m:
            raise AccuracyError("a %g min window does not fit the %d s analysis period" % (window_min, analysis_s))
        errors = [error_pct(a + j, p) for j in range(m - p + 1)]
        trumpet.append({"window_min": window_min, "max_error_pct": max(errors),
                        "min_error_pct": min(errors), "windows": len(errors)})
    flows = [(volumes_ul[k] - volumes_ul[k - 1]) * 3600.0 / interval_s for k in range(1, len(volumes_ul))]
    mean_flow = (volumes_ul[a + m] - volumes_ul[a]) * 3600.0 / analysis_s
    return {
        "rate_ul_h": rate_ul_h,
        "interval_s": interval_s,
        "test_s": have_s,
        "analysis_start_s": analysis_start_s,
        "analysis_s": analysis_s,
        "volume_ul": volumes_ul[-1] - volumes_ul[0],
        "mean_flow_ul_h": mean_flow,
        "flow_error_pct": error_pct(a, m),
        "trumpet": trumpet,
        "interval_flows_ul_h": flows,
    }


def analyse_log(log, rate_ul_h, density_g_ml=None, **kw):
    interval_s = kw.get("interval_s", SAMPLE_S)
    return analyse(grid_from_log(log, density_g_ml, interval_s), rate_ul_h, **kw)


# --- the simulator as the device under test ----------------------------------------------------------

class InProcessSim:
    """The simulator board in this process (CPython) behind PumpLink's request()/call()/close(): the
    same bench commands as the subprocess simulator (sim.record/sim.steplog with per-pulse volumes,
    sim.pump with noise and wear), without a child process, and the Simulation at hand (`.sim`)."""

    def __init__(self, **options):
        simtree.firmware_tree()
        from boards.sim.board import Simulation
        self.sim = Simulation(**options)
        self.notices = self.sim.notices

    def request(self, cmd, **args):
        reply = self.sim.request(cmd, **args)
        if cmd == "sim.run" and reply.get("ok"):
            self.sim.run_until_s(reply["until_s"])   # in process, time moves when we say so
        return reply

    def call(self, cmd, **args):
        reply = self.request(cmd, **args)
        if not reply.get("ok"):
            raise AccuracyError("%s refused: %s %s" % (cmd, reply.get("error"), reply.get("msg")))
        return reply

    def close(self):
        return 0, ""


def open_sim(interp="micropython", **options):
    """A simulator link: 'inprocess' (this process) or a subprocess on micropython/cpython."""
    if interp == "inprocess":
        return InProcessSim(**options)
    from pumpctl.link import PumpLink
    return PumpLink.simulator(interp, **options)


def set_realism(link, noise_ppm=0, noise_seed=1, wear_ppm_per_ml=0):
    """Give the simulator's mock pump its noise and wear (sim.pump); refuse if the simulator ignores
    them (an older simulator: the in-process one, --interp inprocess, takes them too)."""
    if not noise_ppm and not wear_ppm_per_ml:
        return
    state = link.call("sim.pump", noise_ppm=noise_ppm, noise_seed=noise_seed, wear_ppm_per_ml=wear_ppm_per_ml)
    if state.get("noise_ppm") != noise_ppm or state.get("wear_ppm_per_ml") != wear_ppm_per_ml:
        raise AccuracyError("this simulator does not take noise_ppm/wear_ppm_per_ml in sim.pump "
                            "(an older simulator? try --interp inprocess)")


def _drain_steplog(link):
    times, volumes = [], []
    while True:
        reply = link.call("sim.steplog")
        times.extend(reply["times_ms"])
        if volumes is not None and "volumes_pl" in reply:
            volumes.extend(reply["volumes_pl"])
        else:
            volumes = None
        if not reply["left"]:
            return times, volumes


def dose_for_rate(rate_ul_h, conc_mcg_ml):
    """The daily dose (mcg/day, whole ng) that makes `rate_ul_h` of a conc_mcg_ml solution."""
    return math.floor(rate_ul_h * 24 * conc_mcg_ml) / 1000.0


def measure_on_sim(link, rate_ul_h=20.0, duration_s=TEST_S, interval_s=SAMPLE_S, drug="baclofen",
                   conc_mcg_ml=2000, fill_ml=20):
    """Run the IEC test on the simulator: fill, programme the rate, log every pulse for duration_s,
    and return the cumulative true volume on the sampling grid with what the firmware and mock said.
    The pump is left stopped."""
    link.call("refill", drug=drug, conc_mcg_ml=conc_mcg_ml, volume_ml=fill_ml)
    link.call("sim.fill", volume_nl=round(fill_ml * 1_000_000))
    link.call("sim.record", on=1)
    before = link.call("sim.state")
    link.call("program", mode="continuous", dose_mcg_day=dose_for_rate(rate_ul_h, conc_mcg_ml), confirm=True)
    status = link.call("status")
    t0_ms = before["elapsed_ms"]
    link.call("sim.run", until_s=-(-(t0_ms + duration_s * 1000) // 1000))
    times, volumes = _drain_steplog(link)
    after = link.call("sim.state")
    link.call("sim.record", on=0)
    link.call("program", mode="stopped")
    moved_pl = after["moved_pl"] - before["moved_pl"]
    if len(times) != after["pulses"] - before["pulses"]:
        raise AccuracyError("the step log holds %d pulses, the mock counted %d" % (
            len(times), after["pulses"] - before["pulses"]))
    source = "steplog with per-pulse volumes"
    if volumes is None:
        volumes = after["true_pl_per_step"]
        source = "steplog, constant true step"
        if volumes * len(times) != moved_pl:
            raise AccuracyError("pulse volumes vary (noise or wear) but sim.steplog does not return "
                                "volumes_pl (an older simulator? try --interp inprocess)")
    return {
        "volumes_ul": grid_from_steps(times, volumes, t0_ms, duration_s, interval_s),
        "rate_ul_h": status["rate_nl_day"] / 24000.0,
        "requested_rate_ul_h": rate_ul_h,
        "step_nl": status["step_pl"] / 1000.0,
        "true_step_nl": after["true_pl_per_step"] / 1000.0,
        "pulses": len(times),
        "moved_ul": moved_pl / 1e6,
        "source": source,
        "drug": drug,
        "conc_mcg_ml": conc_mcg_ml,
    }


def sim_accuracy(link, rate_ul_h=20.0, **kw):
    """measure_on_sim + analyse: the report of one simulated IEC test."""
    measured = measure_on_sim(link, rate_ul_h, **kw)
    result = analyse(measured.pop("volumes_ul"), measured["rate_ul_h"], kw.get("interval_s", SAMPLE_S))
    result.update(measured)
    return result
