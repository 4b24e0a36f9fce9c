"""Scenario files (format v1): load and validate before anything runs.

{"name": str, "pump": {mock settings}, "actions": [{"at": <time>, "do": <verb>, ...args}],
 "samples": [<time>, ...], "until": <time>}

Validation here is structural (known verb, required arguments present and of the right JSON type,
numbers finite, times parse and lie within `until`, a power cut ends before `until`). Whether the pump
accepts an action is the firmware's call: a refusal is reported, not an error of the scenario.
Doses far below the drug's soft limit (a thousandth of it: mg typed where mcg was meant?) are warned
about in `Scenario.warnings`, not refused.

Two verbs are the runner's, not the pump's: `sample` (read the report's quantities at that time into
the report's `samples` list; the top-level "samples" list is the same as sample actions after all
others of their second) and `calibrate` (weighed calibration runs on the simulator's virtual balance,
then `set nl_per_step`, like `pumpctl calibrate --sim --write`).
"""

import json
import math
import re
import runpy

from pumpctl import REPO_ROOT, simtree
from pumpctl.timefmt import parse_time


class ScenarioError(Exception):
    """The scenario cannot run; the message names the place (e.g. 'actions[3]')."""


# verb -> (required args, optional args); kinds: "number" (finite), "count" (a whole number >= 1),
# "text", "bool", "time" (sent as <key>_s in seconds), "steps" (flex schedule), "demand" (demand
# settings object or null)
RUNNER_VERBS = ("sample", "calibrate")       # done by the runner, not sent to the pump
VERBS = {
    "refill": ({"volume_ml": "number", "conc_mcg_ml": "number", "drug": "text"},
               {"residual_ml": "number", "bridge": "bool"}),
    "program": ({"mode": "text"}, {"dose_mcg_day": "number", "cycle": "text", "steps": "steps",
                                   "confirm": "bool"}),
    "bolus": ({"dose_mcg": "number", "duration": "time"}, {"confirm": "bool"}),
    "prime": ({"volume_ul": "number"}, {}),
    "demand": ({}, {}),
    "ack": ({}, {}),
    "selftest": ({}, {}),
    "fault": ({"fault": "text"}, {}),
    "power_cycle": ({}, {"off": "time", "rtc_lost": "bool"}),
    "watchdog_reset": ({}, {}),
    "set_time": ({"wall": "time"}, {}),
    "sample": ({}, {"label": "text"}),
    "calibrate": ({}, {"steps": "count", "runs": "count", "write": "bool", "density_g_ml": "number",
                       "resolution_g": "number"}),
    "set": ({}, {"reservoir_capacity_ml": "number", "low_reservoir_ml": "number", "minimum_ul_day": "number",
                 "catheter_volume_ul": "number", "nl_per_step": "number", "max_rate_ul_h": "number",
                 "residual_tolerance_ml": "number", "demand": "demand", "confirm": "bool"}),
}

_SIM_BENCH = simtree.sim_bench()
FAULTS = _SIM_BENCH.FAULTS      # the names sim.fault takes (boards/sim/bench.py)
_STEP_KEYS = {"start": "time", "dose_mcg_day": "number"}
_DEMAND_KEYS = {"dose_mcg": "number", "duration": "time", "lockout": "time", "max_per_day": "number"}

# the simulated hardware: "number" (above 0), or (lo, hi) a whole number in that range (the mocks'
# realism: boards/sim/bench.py REALISM_LIMITS, the simulator's own table)
PUMP_SETTINGS = {
    "reservoir_capacity_ml": "number",
    "true_nl_per_step": "number",
    "nl_per_step": "number",
}
PUMP_SETTINGS.update(_SIM_BENCH.REALISM_LIMITS)


def _check_type(value, kind):
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if kind == "text":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return True


class Action:
    def __init__(self, index, at_s, verb, args):
        self.index = index
        self.at_s = at_s
        self.verb = verb
        self.args = args

    def __repr__(self):
        return "actions[%d] %s at %ds" % (self.index, self.verb, self.at_s)


class Scenario:
    def __init__(self, name, pump, actions, until_s, warnings=()):
        self.name = name
        self.pump = pump
        self.actions = actions
        self.until_s = until_s
        self.warnings = list(warnings)


class _NotFinite(ValueError):
    pass


def _refuse_constant(name):
    raise _NotFinite(name)


def load(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ScenarioError("cannot read %s: %s" % (path, exc.strerror))
    except UnicodeDecodeError:
        raise ScenarioError("%s is not a text file (UTF-8)" % path)
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except _NotFinite as exc:
        match = re.search(r"-?\b%s\b" % re.escape(str(exc).lstrip("-")), text)
        line = text.count("\n", 0, match.start()) + 1 if match else "?"
        raise ScenarioError("%s:%s: %s is not a number a scenario can hold (JSON has no NaN or Infinity)"
                            % (path, line, exc))
    except ValueError as exc:
        raise ScenarioError("%s is not valid JSON: %s" % (path, exc))
    return parse(data)


def parse(data):
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a JSON object")
    unknown = set(data) - {"name", "pump", "actions", "until", "format", "samples"}
    if unknown:
        raise ScenarioError("unknown top-level key(s): %s" % ", ".join(sorted(unknown)))
    name = data.get("name", "unnamed")
    if not isinstance(name, str):
        raise ScenarioError("'name' must be a text")
    if "until" not in data:
        raise ScenarioError("missing 'until' (when the run ends)")
    try:
        until_s = parse_time(data["until"])
    except ValueError as exc:
        raise ScenarioError("until: %s" % exc)
    if until_s <= 0:
        raise ScenarioError("until: the run must last more than 0 s (e.g. \"30d\")")
    pump = _pump_settings(data.get("pump", {}))
    raw_actions = data.get("actions", [])
    if not isinstance(raw_actions, list):
        raise ScenarioError("'actions' must be a list")
    actions = []
    for index, raw in enumerate(raw_actions):
        actions.append(_parse_action(index, raw, until_s))
    actions.extend(_sample_times(data.get("samples", []), until_s, len(actions)))
    actions.sort(key=lambda a: a.at_s)  # stable: same-time actions keep file order
    return Scenario(name, pump, actions, until_s, dose_warnings(actions))


def _sample_times(raw, until_s, first_index):
    """The top-level "samples" list as `sample` actions (indexed after the actions)."""
    if not isinstance(raw, list):
        raise ScenarioError("'samples' must be a list of times, e.g. [\"12h\", \"1d\", \"7d\"]")
    out = []
    for i, value in enumerate(raw):
        try:
            at_s = parse_time(value)
        except ValueError as exc:
            raise ScenarioError("samples[%d]: %s" % (i, exc))
        if at_s > until_s:
            raise ScenarioError("samples[%d]: %ds is after until %ds" % (i, at_s, until_s))
        out.append(Action(first_index + i, at_s, "sample", {}))
    return out


def _druglib():
    """The firmware's drug library (firmware/druglib.py: plain data), read as a file."""
    return runpy.run_path(str(REPO_ROOT / "firmware" / "druglib.py"))["DRUGS"]


def dose_warnings(actions):
    """Doses below a thousandth of the drug's soft limit: probably mg typed as mcg (warned, not refused)."""
    try:
        drugs = _druglib()
    except (OSError, KeyError, SyntaxError):
        return []
    warnings = []
    drug = None
    for action in actions:
        if action.verb == "refill":
            drug = action.args.get("drug")
        entry = drugs.get(drug) if drug else None
        if not entry:
            continue
        checks = []
        if action.verb == "program":
            checks = [("dose_mcg_day", action.args.get("dose_mcg_day"), "dose_day", "mcg/day")]
            checks += [("steps[%d].dose_mcg_day" % i, st.get("dose_mcg_day"), "dose_day", "mcg/day")
                       for i, st in enumerate(action.args.get("steps") or [])]
        elif action.verb == "bolus":
            checks = [("dose_mcg", action.args.get("dose_mcg"), "bolus", "mcg")]
        for key, dose_mcg, limit, unit in checks:
            soft_mcg = entry[limit][0] / 1000
            if dose_mcg and 0 < dose_mcg < soft_mcg / 1000:
                warnings.append("actions[%d] (%s) %s: %g %s is below a thousandth of %s's soft limit (%g %s): "
                                "mg meant? (%g mg = %g mcg)" % (action.index, action.verb, key, dose_mcg, unit, drug,
                                                               soft_mcg, unit, dose_mcg, dose_mcg * 1000))
    return warnings


def _pump_settings(pump):
    """The scenario's "pump" object, checked; whole-number settings come back as ints."""
    if not isinstance(pump, dict):
        raise ScenarioError("'pump' must be an object")
    out = {}
    for key, value in pump.items():
        if key not in PUMP_SETTINGS:
            raise ScenarioError("pump: unknown setting '%s' (known: %s)" % (key, ", ".join(sorted(PUMP_SETTINGS))))
        kind = PUMP_SETTINGS[key]
        if kind == "number":
            if not _check_type(value, kind) or value <= 0:
                raise ScenarioError("pump: '%s' must be a positive number (got %s)" % (key, json.dumps(value)))
            out[key] = value
            continue
        lo, hi = kind
        whole = _check_type(value, "number") and (isinstance(value, int) or
                                                  (math.isfinite(value) and value.is_integer()))
        if not whole or not lo <= value <= hi:
            raise ScenarioError("pump: '%s' must be a whole number from %d to %d (got %s)"
                                % (key, lo, hi, json.dumps(value)))
        out[key] = int(value)
    return out


def _parse_action(index, raw, until_s):
    where = "actions[%d]" % index
    if not isinstance(raw, dict):
        raise ScenarioError("%s: must be an object" % where)
    if "do" not in raw:
        raise ScenarioError("%s: missing 'do' (the verb)" % where)
    verb = raw["do"]
    if verb not in VERBS:
        raise ScenarioError("%s: unknown verb %r (known: %s)" % (where, verb, ", ".join(sorted(VERBS))))
    if "at" not in raw:
        raise ScenarioError("%s (%s): missing 'at' (when it happens: seconds or a time like \"2d8h\"; 0 for the "
                            "start)" % (where, verb))
    try:
        at_s = parse_time(raw["at"])
    except ValueError as exc:
        raise ScenarioError("%s: at: %s" % (where, exc))
    if at_s > until_s:
        raise ScenarioError("%s: at %ds is after until %ds" % (where, at_s, until_s))
    required, optional = VERBS[verb]
    args = {k: v for k, v in raw.items() if k not in ("at", "do")}
    for key in required:
        if key not in args:
            raise ScenarioError("%s (%s): missing argument '%s'" % (where, verb, key))
    wire = {}
    for key, value in args.items():
        kind = required.get(key) or optional.get(key)
        if kind is None:
            raise ScenarioError("%s (%s): unknown argument '%s'" % (where, verb, key))
        wire_key, wire_value = _convert("%s (%s) '%s'" % (where, verb, key), key, kind, value)
        wire[wire_key] = wire_value
    if verb == "power_cycle" and at_s + wire.get("off_s", 0) > until_s:
        raise ScenarioError("%s (power_cycle): the pump would still be off at until (%ds + off %ds > %ds): "
                            "shorten 'off' or move 'until' later" % (where, at_s, wire.get("off_s", 0), until_s))
    return Action(index, at_s, verb, wire)


def _convert(where, key, kind, value):
    """Check a scenario argument and turn it into its protocol form (key, value)."""
    if kind == "time":
        try:
            return key + "_s", parse_time(value)
        except ValueError as exc:
            raise ScenarioError("%s: %s" % (where, exc))
    if kind == "steps":
        if not isinstance(value, list):
            raise ScenarioError("%s: must be a list of {start, dose_mcg_day}" % where)
        steps = []
        for i, step in enumerate(value):
            steps.append(_object("%s[%d]" % (where, i), step, _STEP_KEYS))
        return key, steps
    if kind == "demand":
        if value is None:
            return key, None
        return key, _object(where, value, _DEMAND_KEYS)
    if not _check_type(value, kind):
        words = {"number": "finite number", "count": "whole number of at least 1", "bool": "true or false"}
        raise ScenarioError("%s: must be a %s (got %s)" % (where, words.get(kind, kind), json.dumps(value)))
    if key == "fault" and value not in FAULTS:
        raise ScenarioError("%s: unknown fault %r (known: %s)" % (where, value, ", ".join(FAULTS)))
    return key, value


def _object(where, value, keys):
    if not isinstance(value, dict):
        raise ScenarioError("%s: must be an object with %s" % (where, ", ".join(sorted(keys))))
    out = {}
    for key, item in value.items():
        if key not in keys:
            raise ScenarioError("%s: unknown key '%s'" % (where, key))
        wire_key, wire_value = _convert("%s.%s" % (where, key), key, keys[key], item)
        out[wire_key] = wire_value
    return out
