"""Scenario runner: drives the simulator through the serial protocol and builds the report (v1).

Time moves only through `sim.run`; every action is sent at its `at` second. The event log is pulled
after every chunk of virtual time so that nothing is lost to the firmware's bounded RAM ring.

Sampling hook: `Runner(..., on_sample=fn)` calls fn(t_s, status, mock) at the start, after every
chunk of virtual time (one simulated day), after every action (so an action's second has a sample
before it, from the chunk or the action before, and one after it) and at the end, with t_s the
scenario's virtual second, `status` the firmware's status reply and `mock` the simulator's sim.state
(the mock's truth). status["t_s"] is the pump's wall clock, which differs from t_s after a set_time
action or a power cycle that lost the clock. `runner.tip_pg` is then the drug that has left the
catheter's tip (pumpctl.catheter).

Runner verbs (not sent to the pump): `sample` adds the report's quantities at that time to the
report's `samples`; `calibrate` makes weighed calibration runs on the virtual balance and writes
nl_per_step (pumpctl.calibrate), which takes virtual time: an action scheduled before the calibration
has ended stops the run (ScenarioError, exit 2). The catheter FIFO is fed before every refill (the
concentration changes only there), at every sample and at the end: the report's tip_delivered_mcg.
"""

import math
import time

from pumpctl import calibrate as cal
from pumpctl import simtree
from pumpctl.catheter import CatheterFifo
from pumpctl.link import LinkError, PumpLink
from pumpctl.scenario import ScenarioError
from pumpctl.timefmt import format_duration, format_span

CHUNK_S = 86400  # progress granularity: one simulated day
WIRE_COMMANDS = {"fault": "sim.fault", "power_cycle": "sim.power_cycle", "watchdog_reset": "sim.hang"}

REPORT_KEYS = ("until_s", "delivered_ul", "mock_delivered_ul", "reservoir_ul", "step_nl", "alarms",
               "refused", "events", "refill_due_s")


def progress_printer(stream, clock=time.monotonic):
    """A Runner's `progress` for people, on `stream` (stderr): one rewritten line on a terminal, a line
    per 10 % otherwise, each with the speed so far in simulated days per wall-clock second (counted from
    this call; `clock` gives monotonic seconds)."""
    tty = hasattr(stream, "isatty") and stream.isatty()
    started = clock()
    last = [-1]

    def progress(t_s, until_s):
        pct = 100 * t_s // until_s if until_s else 100
        if pct // 10 == last[0] // 10 and t_s != until_s:
            return
        last[0] = pct
        wall_s = clock() - started
        speed = "%.1f" % (t_s / 86400 / wall_s) if wall_s > 0 else "-"
        text = "  simulated %s of %s (%3d%%), %s simulated days/s" % (format_span(t_s), format_span(until_s),
                                                                     pct, speed)
        if tty:
            stream.write("\r" + text + ("\n" if t_s == until_s else ""))
        else:
            stream.write(text + "\n")
        stream.flush()

    return progress


# the mocks' realism: scenario "pump" key -> simulator option of the same name, a whole number
# (boards/sim/bench.py REALISM_LIMITS names them)
REALISM_OPTIONS = tuple(simtree.sim_bench().REALISM_LIMITS)


def sim_options(scenario, start_ticks=0):
    pump = scenario.pump
    options = {"start_ticks": start_ticks}
    if "reservoir_capacity_ml" in pump:
        options["capacity_nl"] = round(pump["reservoir_capacity_ml"] * 1_000_000)
    if "true_nl_per_step" in pump:
        options["true_pl_per_step"] = round(pump["true_nl_per_step"] * 1000)
    if "nl_per_step" in pump:
        options["step_pl"] = round(pump["nl_per_step"] * 1000)
    for key in REALISM_OPTIONS:
        if key in pump:
            options[key] = int(pump[key])
    return options


class Runner:
    def __init__(self, scenario, interp="micropython", start_ticks=0, progress=None, on_sample=None):
        self.scenario = scenario
        self.interp = interp
        self.start_ticks = start_ticks
        self.progress = progress    # callable(t_s, until_s) or None
        self.on_sample = on_sample  # callable(t_s, status, mock) or None (see the module docstring)
        self.events = []
        self.refused = []
        self.scenario_samples = []   # the scenario's `sample` actions and "samples" times (report["samples"])
        self.calibrations = []
        self.fifo = None
        self.tip_pg = 0
        self._log_next = 0

    def run(self):
        started = time.monotonic()
        link = PumpLink.simulator(self.interp, **sim_options(self.scenario, self.start_ticks))
        try:
            now_s = 0
            self._sample(link, now_s)
            busy = None          # (action, end_s) of the last calibration
            for action in self.scenario.actions:
                if action.at_s < now_s:
                    raise ScenarioError("%s: at %s falls inside the calibration of actions[%d], which ended at %s: "
                                        "schedule it later" % (action_where(action), format_duration(action.at_s),
                                                               busy[0].index, format_duration(busy[1])))
                now_s = self._advance(link, now_s, action.at_s)
                end_s = self._do(link, action, now_s)
                if end_s is not None:
                    busy = (action, end_s)
                    now_s = end_s
                self._sample(link, now_s)
            if self.scenario.until_s < now_s:
                raise ScenarioError("until %s falls inside the calibration of actions[%d], which ended at %s"
                                    % (format_duration(self.scenario.until_s), busy[0].index, format_duration(now_s)))
            now_s = self._advance(link, now_s, self.scenario.until_s)
            status = link.call("status")
            mock = link.call("sim.state")
            self._pull_log(link)
            self._feed(status)
            if self.on_sample is not None:
                self.on_sample(now_s, status, mock)
        finally:
            code, err = link.close()
        if code not in (0, None):
            raise RuntimeError("simulator exited with %s: %s" % (code, err[-2000:]))
        return self._report(status, mock, time.monotonic() - started)

    def _advance(self, link, now_s, target_s):
        while now_s < target_s:
            now_s = min(target_s, (now_s // CHUNK_S + 1) * CHUNK_S)
            link.call("sim.run", until_s=now_s)
            self._pull_log(link)
            self._sample(link, now_s)
            if self.progress:
                self.progress(now_s, self.scenario.until_s)
        return now_s

    def _feed(self, status):
        """The catheter FIFO at this status (created at the first one, with the pump's catheter volume)."""
        volume_pl = status["catheter_volume_nl"] * 1000
        if self.fifo is None:
            self.fifo = CatheterFifo(volume_pl)
        elif volume_pl != self.fifo.volume_pl:
            self.fifo.feed(status["delivered_pl"], status["delivered_pg"])
            self.fifo.resize(volume_pl)
        self.tip_pg = self.fifo.feed(status["delivered_pl"], status["delivered_pg"])

    def _sample(self, link, now_s):
        if self.on_sample is not None:
            status = link.call("status")
            self._feed(status)
            self.on_sample(now_s, status, link.call("sim.state"))

    def _pull_log(self, link):
        while True:
            reply = link.call("log", since=self._log_next, limit=64)
            for ev in reply["events"]:
                self.events.append(ev)
            self._log_next = reply["next"]
            if len(reply["events"]) < 64:
                return

    def _refuse(self, action, error, msg):
        self.refused.append({"t_s": action.at_s, "do": action.verb, "index": action.index, "error": error,
                             "msg": msg})

    def _do(self, link, action, now_s):
        """Run one action; returns the virtual second it ended at if it took time (calibrate), else None."""
        if action.verb == "sample":
            status = link.call("status")
            self._feed(status)
            entry = {"t_s": now_s}
            if "label" in action.args:
                entry["label"] = action.args["label"]
            entry.update(quantities(status, link.call("sim.state"), self.tip_pg))
            self.scenario_samples.append(entry)
            return None
        if action.verb == "calibrate":
            return self._calibrate(link, action, now_s)
        args = dict(action.args)
        if "rtc_lost" in args:
            args["rtc_lost"] = int(args["rtc_lost"])
        if action.verb == "refill":
            self._feed(link.call("status"))      # the concentration leaving the pump changes here
        # `fault` is acted out by the simulator's mocks (bench), everything else goes to the firmware
        reply = link.request(WIRE_COMMANDS.get(action.verb, action.verb), **args)
        if action.verb == "refill" and reply.get("ok"):
            # the clinician's syringe: the mock reservoir is filled physically too
            link.call("sim.fill", volume_nl=round(args["volume_ml"] * 1000) * 1000)
        if not reply.get("ok"):
            self._refuse(action, reply.get("error"), reply.get("msg"))
        return None

    def _calibrate(self, link, action, now_s):
        """Weighed runs on the virtual balance, then set nl_per_step (write: true, the default)."""
        args = action.args
        status = link.call("status")
        if status["drug"] is None:
            self._refuse(action, "E_NO_DRUG", "fill the reservoir (refill, e.g. saline) before calibrating")
            return None
        if status["therapy"]["mode"] != "stopped":
            self._refuse(action, "E_STATE", "stop the therapy before calibrating (it is %s)"
                         % status["therapy"]["mode"])
            return None
        density = args.get("density_g_ml", cal.DEFAULT_DENSITY_G_ML)
        resolution = args.get("resolution_g", cal.DEFAULT_RESOLUTION_G)
        try:
            result = cal.calibrate(link, args.get("steps", cal.DEFAULT_STEPS), args.get("runs", cal.DEFAULT_RUNS),
                                   cal.SimBalance(link, density, resolution), cal.sim_advance(link), density,
                                   resolution, write=args.get("write", True))
        except (cal.CalibrationError, LinkError) as exc:
            text = str(exc)
            code = next((w for w in text.split() if w.startswith("E_")), "E_CALIBRATION")
            self._refuse(action, code, text)
            result = None
        end_s = max(now_s, math.ceil(link.call("sim.state")["elapsed_ms"] / 1000))
        if end_s > now_s:
            link.call("sim.run", until_s=end_s)
        self._pull_log(link)
        if result is not None:
            self.calibrations.append({
                "t_s": action.at_s, "index": action.index, "end_s": end_s, "nl_per_step": result["nl_per_step"],
                "expanded_nl": result["expanded_nl"], "runs": result["runs"], "steps": result["steps"][0],
                "old_nl_per_step": result["old_nl_per_step"], "written": result["written"],
                "written_nl_per_step": result.get("written_nl_per_step")})
        return end_s

    def _report(self, status, mock, wall_s):
        alarms = [{"t_s": ev["t_s"], "code": ev["data"]["code"], "tier": ev["data"]["tier"]}
                  for ev in self.events if ev["type"] == "alarm_raise"]
        events = []
        for ev in self.events:
            entry = {"t_s": ev["t_s"], "type": ev["type"], "seq": ev["seq"]}
            if ev.get("data"):
                entry["data"] = ev["data"]
            events.append(entry)
        resets = [{"t_s": ev["t_s"], "cause": ev["data"].get("cause"), "off_max_s": ev["data"].get("off_max_s"),
                   "reserve_ul": ev["data"].get("reserve_nl", 0) / 1000,
                   "missed_max_ul": ev["data"].get("missed_max_nl", 0) / 1000}
                  for ev in self.events if ev["type"] == "reset" and ev["seq"] > 0]
        report = {
            "name": self.scenario.name,
            "resets": resets,
            "interp": self.interp,
            "until_s": self.scenario.until_s,
        }
        report.update(quantities(status, mock, self.tip_pg))
        report.update({
            "alarms": alarms,
            "refused": self.refused,
            "events": events,
            "samples": self.scenario_samples,
            "calibrations": self.calibrations,
            "wakeups": status["wakeups"],
            "wall_s": round(wall_s, 3),
        })
        return report


def action_where(action):
    return "actions[%d] (%s)" % (action.index, action.verb)


def quantities(status, mock, tip_pg):
    """The report's quantities at one moment (the report's end, or a sample), from the firmware's status
    and the mock's state; tip_pg: the drug that has left the catheter's tip."""
    return {
        "delivered_ul": status["delivered_pl"] / 1e6,
        "delivered_mcg": status["delivered_pg"] / 1e6,
        "tip_delivered_mcg": tip_pg / 1e6,
        "mock_delivered_ul": mock["moved_pl"] / 1e6,
        "reservoir_ul": status["reservoir_pl"] / 1e6,
        "mock_reservoir_ul": mock["reservoir_pl"] / 1e6,
        "step_nl": status["step_pl"] / 1000,
        "true_step_nl": mock["true_pl_per_step"] / 1000,
        "steps": status["steps"],
        "pulses": mock["pulses"],
        "refill_due_s": status["refill_due_s"],
        "therapy": status["therapy"],
        "drug": status["drug"],
        "conc_mcg_ml": status["conc_mcg_ml"],
        "rate_ul_h": status["rate_nl_day"] / 24000,
        "alarms_active": [a["code"] for a in status.get("alarms") or []],
        "stopped_by": status.get("stopped_by") or [],
        "battery_mv": status.get("battery_mv"),
    }
