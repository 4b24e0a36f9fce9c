"""`pumpctl run`: run a scenario on the simulator and print a summary or the report (--json)."""

import json
import sys

from pumpctl import argtypes
from pumpctl import scenario as scenario_mod
from pumpctl.link import INTERPRETERS, LinkError
from pumpctl.runner import Runner, progress_printer


def cmd_run(args):
    try:
        scenario = scenario_mod.load(args.scenario)
    except scenario_mod.ScenarioError as exc:
        sys.stderr.write("pumpctl: invalid scenario %s: %s\n" % (args.scenario, exc))
        return 2
    for warning in scenario.warnings:
        sys.stderr.write("pumpctl: warning: %s\n" % warning)
    progress = None if args.quiet else progress_printer(sys.stderr)
    runner = Runner(scenario, interp=args.interp, start_ticks=args.start_ticks, progress=progress)
    try:
        report = runner.run()
    except scenario_mod.ScenarioError as exc:
        sys.stderr.write("pumpctl: invalid scenario %s: %s\n" % (args.scenario, exc))
        return 2
    except (LinkError, RuntimeError) as exc:
        sys.stderr.write("pumpctl: run failed: %s\n" % exc)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        from pumpctl.summary import print_summary
        print_summary(report)
    if args.strict and report["refused"]:
        first = report["refused"][0]
        sys.stderr.write("pumpctl: --strict: %d action(s) refused, the first actions[%d] %s: %s %s\n" % (
            len(report["refused"]), first["index"], first["do"], first["error"], first.get("msg") or ""))
        return 1
    return 0


def register(sub):
    run = sub.add_parser("run", help="run a scenario on the simulator and print a summary or the report",
                         description="Run a scenario (format v1, README) on a fresh simulator. Exit codes: 0 done "
                                     "(refused actions are listed, not failures, unless --strict); 1 the run "
                                     "failed; 2 the scenario is invalid (the message names the action).")
    run.add_argument("scenario", type=argtypes.input_file, help="scenario JSON file (format v1, see README)")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object (the report) on stdout")
    run.add_argument("--interp", choices=INTERPRETERS, default="micropython",
                     help="run the firmware on the MicroPython unix port (default) or CPython")
    run.add_argument("--start-ticks", type=argtypes.ticks, default=0,
                     help="start the virtual ticks_ms here, 0..2**30-1 (e.g. 1073681824: a minute before the wrap)")
    run.add_argument("--strict", action="store_true",
                     help="for CI: exit 1 if the pump refused any action (the report is printed all the same)")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.set_defaults(func=cmd_run)
