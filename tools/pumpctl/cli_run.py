"""`pumpctl run`: run a scenario on the simulator and print a summary or the report (--json)."""

import json
import sys

from pumpctl import scenario as scenario_mod
from pumpctl.link import INTERPRETERS, LinkError
from pumpctl.runner import Runner
from pumpctl.timefmt import format_duration


def _progress_printer(stream):
    """Progress on stderr: one rewritten line on a terminal, a line per 10 % otherwise."""
    tty = hasattr(stream, "isatty") and stream.isatty()
    last = [-1]

    def progress(t_s, until_s):
        pct = 100 * t_s // until_s if until_s else 100
        if pct // 10 == last[0] // 10 and t_s != until_s:
            return
        last[0] = pct
        text = "  simulated %s of %s (%3d%%)" % (format_duration(t_s), format_duration(until_s), pct)
        if tty:
            stream.write("\r" + text + ("\n" if t_s == until_s else ""))
        else:
            stream.write(text + "\n")
        stream.flush()

    return progress


def cmd_run(args):
    try:
        scenario = scenario_mod.load(args.scenario)
    except scenario_mod.ScenarioError as exc:
        sys.stderr.write("pumpctl: invalid scenario %s: %s\n" % (args.scenario, exc))
        return 2
    progress = None if args.quiet else _progress_printer(sys.stderr)
    runner = Runner(scenario, interp=args.interp, start_ticks=args.start_ticks, progress=progress)
    try:
        report = runner.run()
    except (LinkError, RuntimeError) as exc:
        sys.stderr.write("pumpctl: run failed: %s\n" % exc)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        from pumpctl.summary import print_summary
        print_summary(report)
    return 0


def register(sub):
    run = sub.add_parser("run", help="run a scenario on the simulator and print a summary or the report")
    run.add_argument("scenario", help="scenario JSON file (format v1, see README)")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object (the report) on stdout")
    run.add_argument("--interp", choices=INTERPRETERS, default="micropython",
                     help="run the firmware on the MicroPython unix port (default) or CPython")
    run.add_argument("--start-ticks", type=int, default=0,
                     help="start the virtual ticks_ms here (e.g. near the 2**30 wrap)")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.set_defaults(func=cmd_run)
