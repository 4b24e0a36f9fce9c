"""Scenario runner: drives the simulator through the serial protocol and builds the report (v1).

Time moves only through `sim.run`; every action is sent at its `at` second. The event log is pulled
after every chunk of virtual time so that nothing is lost to the firmware's bounded RAM ring.

Sampling hook: `Runner(..., on_sample=fn)` calls fn(t_s, status, mock) at the start, after every
chunk of virtual time (one simulated day), after every action and at the end, with t_s the scenario's
virtual second, `status` the firmware's status reply and `mock` the simulator's sim.state (the mock's
truth). status["t_s"] is the pump's wall clock, which differs from t_s after a set_time action or a
power cycle that lost the clock. Without on_sample the runner reads nothing extra.
"""

import time

from pumpctl.link import PumpLink

CHUNK_S = 86400  # progress granularity: one simulated day
WIRE_COMMANDS = {"fault": "sim.fault", "power_cycle": "sim.power_cycle", "watchdog_reset": "sim.hang"}

REPORT_KEYS = ("until_s", "delivered_ul", "mock_delivered_ul", "reservoir_ul", "step_nl", "alarms",
               "refused", "events", "refill_due_s")


# the mocks' realism: scenario "pump" key -> simulator option of the same name, a whole number
REALISM_OPTIONS = ("noise_ppm", "noise_seed", "wear_ppm_per_ml", "battery_drain_uv_per_day")


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
        self._log_next = 0

    def run(self):
        started = time.monotonic()
        link = PumpLink.simulator(self.interp, **sim_options(self.scenario, self.start_ticks))
        try:
            now_s = 0
            self._sample(link, now_s)
            for action in self.scenario.actions:
                now_s = self._advance(link, now_s, action.at_s)
                self._do(link, action)
                self._sample(link, now_s)
            now_s = self._advance(link, now_s, self.scenario.until_s)
            status = link.call("status")
            mock = link.call("sim.state")
            self._pull_log(link)
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

    def _sample(self, link, now_s):
        if self.on_sample is not None:
            self.on_sample(now_s, link.call("status"), link.call("sim.state"))

    def _pull_log(self, link):
        while True:
            reply = link.call("log", since=self._log_next, limit=64)
            for ev in reply["events"]:
                self.events.append(ev)
            self._log_next = reply["next"]
            if len(reply["events"]) < 64:
                return

    def _do(self, link, action):
        args = dict(action.args)
        if "rtc_lost" in args:
            args["rtc_lost"] = int(args["rtc_lost"])
        # `fault` is acted out by the simulator's mocks (bench), everything else goes to the firmware
        reply = link.request(WIRE_COMMANDS.get(action.verb, action.verb), **args)
        if action.verb == "refill" and reply.get("ok"):
            # the clinician's syringe: the mock reservoir is filled physically too
            link.call("sim.fill", volume_nl=round(args["volume_ml"] * 1000) * 1000)
        if not reply.get("ok"):
            self.refused.append({"t_s": action.at_s, "do": action.verb, "index": action.index,
                                 "error": reply.get("error"), "msg": reply.get("msg")})

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
        return {
            "name": self.scenario.name,
            "resets": resets,
            "interp": self.interp,
            "until_s": self.scenario.until_s,
            "delivered_ul": status["delivered_pl"] / 1e6,
            "delivered_mcg": status["delivered_pg"] / 1e6,
            "mock_delivered_ul": mock["moved_pl"] / 1e6,
            "reservoir_ul": status["reservoir_pl"] / 1e6,
            "mock_reservoir_ul": mock["reservoir_pl"] / 1e6,
            "step_nl": status["step_pl"] / 1000,
            "true_step_nl": mock["true_pl_per_step"] / 1000,
            "steps": status["steps"],
            "pulses": mock["pulses"],
            "alarms": alarms,
            "refused": self.refused,
            "events": events,
            "refill_due_s": status["refill_due_s"],
            "therapy": status["therapy"],
            "drug": status["drug"],
            "conc_mcg_ml": status["conc_mcg_ml"],
            "wakeups": status["wakeups"],
            "wall_s": round(wall_s, 3),
        }
