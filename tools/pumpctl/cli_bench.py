"""Bench subcommands: `pumpctl accuracy`, `pumpctl calibrate`, `pumpctl report` (docs/bench.md).

Exit codes: 0 done; 2 invalid input (a malformed CSV names its line; a bad scenario names the action);
1 the run failed (the pump refused, the simulator died).
"""

import json
import sys

from pumpctl import accuracy, argtypes, balance_csv, calibrate
from pumpctl.link import INTERPRETERS, LinkError

SIM_INTERPS = INTERPRETERS + ("inprocess",)
DEFAULT_RATE_UL_H = 20.0


def require_plots(what):
    """pumpctl.plots, or a one-line error if matplotlib (the `plot` extra) is missing."""
    try:
        from pumpctl import plots
    except ImportError:
        from pumpctl.devcmd import UsageError
        raise UsageError("%s draws PNGs with matplotlib, which is not installed: pip install 'pumpctl[plot]' "
                         "(or matplotlib; make sim installs it)" % what)
    return plots


def _err(msg, code):
    sys.stderr.write("pumpctl: %s\n" % msg)
    return code


def _sim_options(args):
    options = {}
    if args.true_nl_per_step is not None:
        options["true_pl_per_step"] = round(args.true_nl_per_step * 1000)
    if args.nl_per_step is not None:
        options["step_pl"] = round(args.nl_per_step * 1000)
    return options


def _open_sim(args):
    link = accuracy.open_sim(args.interp, **_sim_options(args))
    accuracy.set_realism(link, args.noise_ppm, args.noise_seed, args.wear_ppm_per_ml)
    return link


def _print_accuracy(result, label):
    from rich.console import Console
    from rich.table import Table
    console = Console()
    console.print("[bold]%s[/bold]: set rate %.3f uL/h, %d s test, analysis %d..%d s" % (
        label, result["rate_ul_h"], result["test_s"], result["analysis_start_s"],
        result["analysis_start_s"] + result["analysis_s"]))
    console.print("flow-rate error A = [bold]%+.3f %%[/bold] (mean %.4f uL/h)" % (
        result["flow_error_pct"], result["mean_flow_ul_h"]))
    table = Table(title="trumpet curve", header_style="bold")
    for col in ("window", "max error %", "min error %", "windows"):
        table.add_column(col, justify="right")
    for row in result["trumpet"]:
        table.add_row("%d min" % row["window_min"], "%+.3f" % row["max_error_pct"], "%+.3f" % row["min_error_pct"],
                      str(row["windows"]))
    console.print(table)


def _sim_label(result, args):
    parts = ["true %g nL/step, calibration %g nL/step" % (result["true_step_nl"], result["step_nl"])]
    if args.noise_ppm:
        parts.append("noise +/-%d ppm (seed %d)" % (args.noise_ppm, args.noise_seed))
    if args.wear_ppm_per_ml:
        parts.append("wear %d ppm/mL" % args.wear_ppm_per_ml)
    return "simulated pump: %s (%s)" % (", ".join(parts), args.interp)


def cmd_accuracy(args):
    plots = require_plots("--png") if args.png else None
    if args.csv:
        sim_only = [flag for flag, given in (("--sim", args.sim), ("--csv-out", args.csv_out),
                                             ("--true-nl-per-step", args.true_nl_per_step is not None),
                                             ("--nl-per-step", args.nl_per_step is not None),
                                             ("--noise-ppm", args.noise_ppm),
                                             ("--wear-ppm-per-ml", args.wear_ppm_per_ml))
                    if given]
        if sim_only:
            return _err("accuracy: --csv analyses balance readings; %s is for the simulator" % ", ".join(sim_only), 2)
    try:
        if args.csv:
            if args.rate_ul_h is None:
                return _err("--csv needs --rate-ul-h (the set rate of the test)", 2)
            log = balance_csv.load_log(args.csv)
            result = accuracy.analyse_log(log, args.rate_ul_h, args.density_g_ml,
                                          analysis_start_s=args.analysis_start_s, analysis_s=args.analysis_s)
            label = args.csv
        else:
            link = _open_sim(args)
            try:
                measured = accuracy.measure_on_sim(link, args.rate_ul_h or DEFAULT_RATE_UL_H, args.duration_s,
                                                   drug=args.drug, conc_mcg_ml=args.conc_mcg_ml)
            finally:
                link.close()
            volumes = measured.pop("volumes_ul")
            if args.csv_out:
                density = args.density_g_ml or calibrate.DEFAULT_DENSITY_G_ML
                times = [k * accuracy.SAMPLE_S for k in range(len(volumes))]
                with open(args.csv_out, "w", encoding="utf-8") as fh:
                    fh.write(balance_csv.format_log(times, [v * density / 1000 for v in volumes], density))
            result = accuracy.analyse(volumes, measured["rate_ul_h"], analysis_start_s=args.analysis_start_s,
                                      analysis_s=args.analysis_s)
            result.update(measured)
            label = _sim_label(result, args)
    except (balance_csv.BalanceCsvError, accuracy.AccuracyError) as exc:
        return _err(str(exc), 2)
    except LinkError as exc:
        return _err("the simulator failed: %s" % exc, 1)
    if args.png:
        plots.plot_trumpet(result, args.png, title=label)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        _print_accuracy(result, label)
        if args.png:
            print("wrote %s (%dx%d)" % ((args.png,) + plots.png_size(args.png)))
    return 0


def _open_board(port):
    from pumpctl.link import PumpLink
    opener = getattr(PumpLink, "serial", None)
    if opener is None:
        raise LinkError("this pumpctl cannot open a board yet (no serial link): weigh by hand and give "
                        "--mass-g, or use --sim")
    return opener(port)


def _calibration_result(args, log):
    if args.weighings or (args.mass_g and not args.sim and not args.port):
        # offline: the runs were made on the bench already; only the arithmetic here
        if args.weighings:
            rows = balance_csv.load_weighings(args.weighings)
            steps = [w.steps or args.steps for w in rows]
            density = rows[0].density_g_ml or args.density_g_ml
            masses = [w.mass_g for w in rows]
        else:
            steps, density, masses = args.steps, args.density_g_ml, args.mass_g
        return calibrate.compute(steps, masses, density, args.resolution_g), {}
    if args.sim:
        link = _open_sim(args)
        balance = calibrate.SimBalance(link, args.density_g_ml, args.resolution_g)
        advance = calibrate.sim_advance(link)
        fill_ml = 20
    else:
        link = _open_board(args.port)
        balance = calibrate.ListBalance(args.mass_g, ask=input)
        advance = calibrate.real_advance
        fill_ml = None
    verify = {}
    try:
        if args.verify and args.sim:
            verify["before"] = accuracy.sim_accuracy(link, args.rate_ul_h)
        result = calibrate.calibrate(link, args.steps, args.runs, balance, advance, args.density_g_ml,
                                     args.resolution_g, fill_ml=fill_ml, write=args.write, log=log,
                                     tubing_service_ml=args.tubing_service_ml)
        if args.verify and args.sim:
            verify["after"] = accuracy.sim_accuracy(link, args.rate_ul_h)
    finally:
        link.close()
    return result, verify


def cmd_calibrate(args):
    log = None if args.json else (lambda text: sys.stderr.write("  %s\n" % text))
    try:
        result, verify = _calibration_result(args, log)
    except (balance_csv.BalanceCsvError, calibrate.CalibrationError, accuracy.AccuracyError) as exc:
        return _err(str(exc), 2)
    except LinkError as exc:
        return _err(str(exc), 1)
    if verify:
        result["verify"] = {k: {"flow_error_pct": v["flow_error_pct"], "step_nl": v["step_nl"],
                                "true_step_nl": v["true_step_nl"], "trumpet": v["trumpet"]}
                            for k, v in verify.items()}
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    print("calibration: %.4f nL/step +/- %.4f nL (k=%d, %.3f %%) from %d run(s) of %s steps" % (
        result["nl_per_step"], result["expanded_nl"], result["coverage_k"], result["expanded_pct"], result["runs"],
        "/".join(str(s) for s in sorted(set(result["steps"])))))
    print("  per run: %s nL/step" % ", ".join("%.4f" % v for v in result["nl_per_step_runs"]))
    if result["sd_nl"] is None:
        print("  one run: repeatability not assessed (use --runs 3 or more)")
    else:
        print("  s = %.4f nL, u(repeatability) = %.4f nL, u(resolution) = %.4f nL" % (
            result["sd_nl"], result["u_repeatability_nl"], result["u_resolution_nl"]))
    if "old_nl_per_step" in result:
        print("  pump calibration was %.3f nL/step (change %+.3f %%)%s" % (
            result["old_nl_per_step"], result["change_pct"],
            "; written: %.3f nL/step" % result["written_nl_per_step"] if result["written"] else "; not written"))
    if "tubing_service_ml" in result:
        print("  tubing service reminder: %s" % (
            "after %g mL from this calibration" % result["tubing_service_ml"] if result["tubing_service_ml"]
            else "off"))
    for key in ("before", "after"):
        if key in verify:
            print("  flow-rate error %s calibration: %+.3f %%" % (key, verify[key]["flow_error_pct"]))
    return 0


def cmd_report(args):
    require_plots("pumpctl report")
    from pumpctl import mdreport
    from pumpctl import scenario as scenario_mod
    from pumpctl.runner import progress_printer
    try:
        scenario = scenario_mod.load(args.scenario)
    except scenario_mod.ScenarioError as exc:
        return _err("invalid scenario %s: %s" % (args.scenario, exc), 2)
    progress = None if args.quiet else progress_printer(sys.stderr)
    try:
        paths = mdreport.write_report(scenario, args.out, args.interp, args.rate_ul_h, not args.no_accuracy,
                                      progress)
    except (LinkError, RuntimeError, accuracy.AccuracyError) as exc:
        return _err("report failed: %s" % exc, 1)
    for name in ("markdown", "timeline", "trumpet", "json"):
        if name in paths:
            print("wrote %s" % paths[name])
    return 0


def _add_sim_args(p, sim_help="run on a fresh simulator"):
    p.add_argument("--sim", action="store_true", help=sim_help)
    p.add_argument("--interp", choices=SIM_INTERPS, default="micropython",
                   help="simulator: MicroPython unix port (default), CPython, or in this process")
    p.add_argument("--true-nl-per-step", type=argtypes.number("nL", 0, 1000, lo_open=True),
                   help="simulator: what the mock pump really moves per step (nL)")
    p.add_argument("--nl-per-step", type=argtypes.number("nL", 0, 1000, lo_open=True),
                   help="simulator: the firmware's initial calibration (nL per step)")
    p.add_argument("--noise-ppm", type=argtypes.whole("ppm", 0, 1_000_000), default=0,
                   help="simulator: per-step noise, uniform +/- ppm of the step (0..1000000)")
    p.add_argument("--noise-seed", type=argtypes.whole("", 0, 0xFFFFFFFF), default=1,
                   help="simulator: seed of the per-step noise (the same seed, the same run)")
    p.add_argument("--wear-ppm-per-ml", type=argtypes.whole("ppm per mL", 0, 1_000_000), default=0,
                   help="simulator: tubing wear, output loss per mL moved (ppm)")
    p.add_argument("--density-g-ml", type=argtypes.number("g/mL", 0.5, 3),
                   help="density setting of the test fluid (g/mL; default 0.9982, water at 20 degC)")


def register(sub):
    acc = sub.add_parser("accuracy", help="IEC 60601-2-24 flow-rate error and trumpet curve (CSV or simulator)",
                         description="IEC 60601-2-24 flow-rate error and trumpet curve from balance readings "
                                     "(--csv) or a simulated pump (--sim); docs/bench.md.")
    acc.add_argument("--csv", type=argtypes.input_file,
                     help="balance log CSV (time_s,mass_g[,density_g_ml]; see docs/bench.md)")
    _add_sim_args(acc, "run the test on a fresh simulator (the default without --csv)")
    acc.add_argument("--rate-ul-h", type=argtypes.number("uL/h", 0, 10000, lo_open=True),
                     help="set rate (uL/h; --csv: required, the rate of the test; simulator: default 20)")
    acc.add_argument("--drug", default="baclofen", help="simulator: drug to programme (default baclofen)")
    acc.add_argument("--conc-mcg-ml", type=argtypes.whole("mcg/mL", 1), default=2000,
                     help="simulator: concentration (mcg/mL, default 2000)")
    acc.add_argument("--duration", "--duration-s", dest="duration_s", type=argtypes.duration(60, 30 * 86400),
                     default=accuracy.TEST_S, help="simulator: test length (default 2h)")
    acc.add_argument("--analysis-start", "--analysis-start-s", dest="analysis_start_s", type=argtypes.duration(0),
                     default=accuracy.ANALYSIS_START_S,
                     help="start of the analysis period (default 1h; whole 30 s intervals)")
    acc.add_argument("--analysis", "--analysis-s", dest="analysis_s", type=argtypes.duration(30),
                     default=accuracy.ANALYSIS_S, help="length of the analysis period (default 1h)")
    acc.add_argument("--png", type=argtypes.output_file, help="write the start-up graph and trumpet curve here")
    acc.add_argument("--csv-out", type=argtypes.output_file,
                     help="simulator: also write the virtual balance readings as a CSV")
    acc.add_argument("--json", action="store_true", help="print one JSON object")
    acc.set_defaults(func=cmd_accuracy)

    cal = sub.add_parser("calibrate", help="nL per step from weighed runs, with its uncertainty",
                         description="nL per step from weighed runs with its uncertainty: on a fresh simulator "
                                     "(--sim), a board (--port), or masses weighed already (--mass-g, --weighings).")
    _add_sim_args(cal, "calibrate a fresh simulator (its virtual balance weighs)")
    cal.add_argument("--port", help="a board's serial port: runs on the board, masses typed in (or --mass-g)")
    cal.add_argument("--steps", type=argtypes.whole("steps", 1, 1_000_000), default=calibrate.DEFAULT_STEPS,
                     help="steps per run (default 2000)")
    cal.add_argument("--runs", type=argtypes.whole("runs", 1, 100), default=calibrate.DEFAULT_RUNS,
                     help="runs (default 3)")
    cal.add_argument("--mass-g", type=argtypes.number("g", 0, lo_open=True), nargs="+",
                     help="weighed masses (g), one per run")
    cal.add_argument("--weighings", type=argtypes.input_file,
                     help="CSV of weighings (run,steps,mass_g; see docs/bench.md)")
    cal.add_argument("--resolution-g", type=argtypes.number("g", 0, 1), default=calibrate.DEFAULT_RESOLUTION_G,
                     help="balance resolution (g; default 0.00001)")
    cal.add_argument("--write", action="store_true", help="set nl_per_step on the pump")
    cal.add_argument("--tubing-service-ml", type=argtypes.number("mL", 0, calibrate.MAX_TUBING_SERVICE_ML),
                     metavar="ML",
                     help="with --write: also set the tubing reminder (setting tubing_service_ml, warning "
                          "TUBING_SERVICE) to ML from this calibration on; 0 turns it off; needs the clinician key")
    cal.add_argument("--verify", action="store_true", help="simulator: IEC accuracy test before and after")
    cal.add_argument("--rate-ul-h", type=argtypes.number("uL/h", 0, 10000, lo_open=True), default=DEFAULT_RATE_UL_H,
                     help="--verify: set rate (uL/h, default 20)")
    cal.add_argument("--json", action="store_true", help="print one JSON object")
    cal.set_defaults(func=_with_density(cmd_calibrate))

    rep = sub.add_parser("report", help="run a scenario and write a Markdown report with PNG plots",
                         description="Run a scenario on a fresh simulator and write report.md, timeline.png, "
                                     "trumpet.png and report.json into a folder (docs/bench.md).")
    rep.add_argument("scenario", type=argtypes.input_file, help="scenario JSON file (format v1, see README)")
    rep.add_argument("--out", type=argtypes.output_dir, required=True, help="output folder (made if missing)")
    rep.add_argument("--interp", choices=INTERPRETERS, default="micropython",
                     help="run the firmware on the MicroPython unix port (default) or CPython")
    rep.add_argument("--rate-ul-h", type=argtypes.number("uL/h", 0, 10000, lo_open=True), default=DEFAULT_RATE_UL_H,
                     help="set rate of the accuracy test (uL/h, default 20)")
    rep.add_argument("--no-accuracy", action="store_true", help="skip the IEC accuracy test")
    rep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    rep.set_defaults(func=cmd_report)


def _with_density(fn):
    def run(args):
        if args.density_g_ml is None:
            args.density_g_ml = calibrate.DEFAULT_DENSITY_G_ML
        if not (args.sim or args.port or args.mass_g or args.weighings):
            return _err("calibrate: give --sim, --port, --mass-g or --weighings", 2)
        if args.sim and args.port:
            return _err("calibrate: give --sim (a fresh simulator) or --port (a board), not both", 2)
        if args.weighings and (args.mass_g or args.sim or args.port):
            return _err("calibrate: --weighings is the masses of runs made already: without --mass-g, --sim or "
                        "--port", 2)
        if args.mass_g and args.sim:
            return _err("calibrate: --sim weighs on its virtual balance: leave out --mass-g", 2)
        if args.tubing_service_ml is not None:
            if not args.write or args.weighings or not (args.sim or args.port):
                return _err("calibrate: --tubing-service-ml is written with the calibration: it needs --write "
                            "and a pump (--sim or --port)", 2)
            try:
                calibrate.check_tubing_service_ml(args.tubing_service_ml)
            except calibrate.CalibrationError as exc:
                return _err("calibrate: --tubing-service-ml: %s" % exc, 2)
        if args.write and not (args.sim or args.port):
            return _err("calibrate: --write sets nl_per_step on a pump: give --sim or --port", 2)
        return fn(args)
    return run
