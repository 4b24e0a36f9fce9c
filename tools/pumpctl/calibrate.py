"""Calibration: nL per step from weighed runs of a known number of steps, with its uncertainty.

Each run: tare the balance, have the pump run exactly N steps (firmware `calibrate`, therapy stopped,
bench fluid in the reservoir), weigh. nL/step = mass / density / N. Over n runs:
- mean and sample standard deviation s of the per-run values;
- repeatability u_rep = s / sqrt(n) (not assessed with one run);
- balance resolution d: each mass is the difference of two rounded readings, each off by at most d/2
  (rectangular), so u_res = d / sqrt(6) per run, / sqrt(n) for the mean, turned into nL/step;
- combined u_c = sqrt(u_rep^2 + u_res^2) and expanded U = k u_c (k = 2, about 95 %).
The density setting is taken as exact. Written against anything with PumpLink's request()/call():
the simulator (a virtual balance reads the mock pump's truly moved volume) or a board.
"""

import math
import time

DEFAULT_STEPS = 2000
DEFAULT_RUNS = 3
DEFAULT_RESOLUTION_G = 0.00001      # a five-decimal analytical balance
DEFAULT_DENSITY_G_ML = 0.9982       # water at 20 degC (IEC test fluid); 0.9 % saline is 1.0046
COVERAGE_K = 2
BENCH_FLUID = {"drug": "saline", "conc_mcg_ml": 1}
MAX_TUBING_SERVICE_ML = 10_000      # the firmware's range of tubing_service_ml (0 turns the reminder off)


class CalibrationError(ValueError):
    pass


def compute(steps, masses_g, density_g_ml=DEFAULT_DENSITY_G_ML, resolution_g=DEFAULT_RESOLUTION_G,
            coverage_k=COVERAGE_K):
    """nL/step with its uncertainty from weighed runs. steps: one int for every run, or a list."""
    if not masses_g:
        raise CalibrationError("no weighings")
    steps_list = list(steps) if isinstance(steps, (list, tuple)) else [steps] * len(masses_g)
    if len(steps_list) != len(masses_g):
        raise CalibrationError("%d step counts for %d weighings" % (len(steps_list), len(masses_g)))
    if density_g_ml <= 0 or resolution_g < 0:
        raise CalibrationError("the density must be above 0 and the resolution not below 0")
    per_run = []
    for n_steps, mass in zip(steps_list, masses_g):
        if n_steps < 1 or mass <= 0:
            raise CalibrationError("a run needs steps >= 1 and a mass above 0 (got %r steps, %r g)" % (n_steps, mass))
        per_run.append(mass / density_g_ml * 1e6 / n_steps)
    n = len(per_run)
    mean = sum(per_run) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in per_run) / (n - 1)) if n > 1 else None
    u_rep = sd / math.sqrt(n) if sd is not None else None
    mean_steps = sum(steps_list) / n
    u_res = resolution_g / math.sqrt(6) / density_g_ml * 1e6 / mean_steps / math.sqrt(n)
    u_c = math.sqrt((u_rep or 0.0) ** 2 + u_res ** 2)
    return {
        "runs": n,
        "steps": steps_list,
        "masses_g": list(masses_g),
        "density_g_ml": density_g_ml,
        "resolution_g": resolution_g,
        "nl_per_step_runs": per_run,
        "nl_per_step": mean,
        "sd_nl": sd,
        "u_repeatability_nl": u_rep,
        "u_resolution_nl": u_res,
        "u_combined_nl": u_c,
        "coverage_k": coverage_k,
        "expanded_nl": coverage_k * u_c,
        "expanded_pct": 100.0 * coverage_k * u_c / mean,
    }


class SimBalance:
    """A balance under the simulator's outlet: reads the mock pump's truly moved volume as mass,
    rounded to the balance resolution like a real display."""

    def __init__(self, link, density_g_ml=DEFAULT_DENSITY_G_ML, resolution_g=DEFAULT_RESOLUTION_G):
        self.link = link
        self.density_g_ml = density_g_ml
        self.resolution_g = resolution_g
        self._tare = None

    def reading_g(self):
        mass = self.link.call("sim.state")["moved_pl"] / 1e9 * self.density_g_ml
        if self.resolution_g:
            mass = round(round(mass / self.resolution_g) * self.resolution_g, 9)
        return mass

    def tare(self, run):
        self._tare = self.reading_g()

    def weigh(self, run, steps):
        return self.reading_g() - self._tare


class ListBalance:
    """Masses weighed by hand: given up front (command line or CSV) or typed in after each run."""

    def __init__(self, masses_g=None, ask=None):
        self.masses_g = list(masses_g or [])
        self.ask = ask      # callable(prompt) -> str, e.g. input

    def tare(self, run):
        if self.ask is not None and not self.masses_g:
            self.ask("run %d: tare the balance, then press Enter " % run)

    def weigh(self, run, steps):
        if len(self.masses_g) >= run:
            return self.masses_g[run - 1]
        if self.ask is None:
            raise CalibrationError("no mass for run %d" % run)
        while True:
            text = self.ask("run %d: mass after %d steps in g: " % (run, steps)).strip()
            try:
                mass = float(text)
            except ValueError:
                continue
            if mass > 0 and math.isfinite(mass):
                return mass


def sim_advance(link):
    """Move the simulator's virtual time on by whole seconds."""
    def advance(seconds):
        now_ms = link.call("sim.state")["elapsed_ms"]
        link.call("sim.run", until_s=-(-now_ms // 1000) + int(math.ceil(seconds)))
    return advance


def real_advance(seconds):
    time.sleep(seconds)


def run_steps(link, steps, advance, poll_s=5, max_polls=720):
    """One calibration run of exactly `steps` steps; returns when the pump has made them."""
    before = link.call("status")
    if before["therapy"]["mode"] != "stopped":
        raise CalibrationError("stop the therapy before calibrating (it is %s)" % before["therapy"]["mode"])
    reply = link.call("calibrate", steps=steps)
    rate_nl_day = reply["rate_nl_day"]
    advance(steps * before["step_pl"] * 86400.0 / (rate_nl_day * 1000.0) + 1)
    for _ in range(max_polls):
        status = link.call("status")
        if status["bolus"] is None:
            made = status["steps"] - before["steps"]
            if made != steps:
                raise CalibrationError("the pump made %d steps, not %d (%s)" % (
                    made, steps, ", ".join(status.get("stopped_by") or []) or "stopped"))
            return status
        advance(poll_s)
    raise CalibrationError("the calibration run did not end")


def check_tubing_service_ml(value):
    """A tubing service interval in mL as the firmware takes it (0..10000, 0 = no reminder)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_TUBING_SERVICE_ML:
        raise CalibrationError("the tubing service interval must be 0 to %d mL (0: no reminder), not %r"
                               % (MAX_TUBING_SERVICE_ML, value))
    return value


def calibrate(link, steps=DEFAULT_STEPS, runs=DEFAULT_RUNS, balance=None, advance=None,
              density_g_ml=DEFAULT_DENSITY_G_ML, resolution_g=DEFAULT_RESOLUTION_G, fill_ml=None,
              write=False, log=None, tubing_service_ml=None):
    """Run `runs` calibration runs, weigh each, compute nL/step and (write=True) set it on the pump.
    fill_ml: refill with the bench fluid first (simulator: the mock reservoir is filled too).
    tubing_service_ml (needs write=True): set the pump's tubing reminder interval in the same `set`
    as the calibration (the firmware counts it from this calibration on). That `set` changes more than
    nl_per_step, so it needs the clinician role: the bench role may set nl_per_step alone."""
    if steps < 1 or runs < 1:
        raise CalibrationError("steps and runs must be at least 1")
    if tubing_service_ml is not None:
        if not write:
            raise CalibrationError("a tubing service interval is set with the calibration: it needs write")
        check_tubing_service_ml(tubing_service_ml)
        keys = getattr(link, "keys", None)
        if keys is not None and "clinician" not in keys:
            raise CalibrationError("setting tubing_service_ml needs the clinician key (the bench role may set "
                                   "nl_per_step alone): give a key file with a clinician key, or leave it out")
    if fill_ml:
        link.call("refill", volume_ml=fill_ml, **BENCH_FLUID)
        link.call("sim.fill", volume_nl=round(fill_ml * 1_000_000))
    old_step_pl = link.call("status")["step_pl"]
    masses = []
    for run in range(1, runs + 1):
        balance.tare(run)
        run_steps(link, steps, advance)
        masses.append(balance.weigh(run, steps))
        if log:
            log("run %d: %d steps, %.5f g" % (run, steps, masses[-1]))
    result = compute(steps, masses, density_g_ml, resolution_g)
    result["old_nl_per_step"] = old_step_pl / 1000.0
    result["change_pct"] = 100.0 * (result["nl_per_step"] - result["old_nl_per_step"]) / result["old_nl_per_step"]
    result["written"] = False
    if write:
        result["written_nl_per_step"] = round(result["nl_per_step"], 3)
        settings = {"nl_per_step": result["written_nl_per_step"]}
        if tubing_service_ml is not None:
            settings["tubing_service_ml"] = tubing_service_ml
        link.call("set", **settings)
        result["written"] = True
        if tubing_service_ml is not None:
            result["tubing_service_ml"] = tubing_service_ml
    return result
