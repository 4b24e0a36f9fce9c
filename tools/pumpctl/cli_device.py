"""Device subcommands: one per protocol command (docs/protocol.md), for a board (`--port`), a served
simulator (`pumpctl sim serve`, then `--port socket://127.0.0.1:PORT`, or PUMPCTL_PORT in the
environment) or a fresh simulator for one command (`--sim`: its state is gone when the command ends).

Human output by default (rich tables in mL, uL/h, mcg/day, dates from the pump epoch 2024-01-01 00:00
UTC); `--json` prints the pump's reply as one JSON object. Exit codes: 0 done; 1 refused by the pump,
not confirmed, or the link failed; 2 invalid input. A refusal names the option the user typed
(`--dose-mcg-day`, `--confirm-limit`), not the protocol's field.
"""

import csv
import json
import sys

from pumpctl import argtypes, devview
from pumpctl.devcmd import DEMAND_FLAGS, UsageError, add_connection, call, run_command, simple

# --- read-only ---------------------------------------------------------------------------------------

def _info(link, args):
    reply = call(link, "info")
    reply["auth"] = call(link, "keys.state")
    reply["auth"].pop("id", None)
    return reply, lambda: devview.show(devview.info_table(reply, reply["auth"]))


def _status(link, args):
    reply = call(link, "status")
    return reply, lambda: devview.show(devview.status_table(reply))


def fetch_log(link, since=0):
    events = []
    while True:
        reply = call(link, "log", since=since, limit=64)
        events.extend(reply["events"])
        if len(reply["events"]) < 64:
            return events, reply
        since = reply["events"][-1]["seq"] + 1


def _log(link, args):
    events, last = fetch_log(link, args.since)
    fmt = "json" if args.json else args.format
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(devview.LOG_COLUMNS)
            for e in events:
                writer.writerow([e["seq"], e["t_s"], devview.date(e["t_s"]), e["type"],
                                 json.dumps(e["data"]) if e.get("data") is not None else ""])
        elif fmt == "json":
            out.write(json.dumps({"events": events, "next": last["next"], "dropped": last["dropped"]}) + "\n")
        elif args.out:
            from rich.console import Console
            Console(file=out, width=160).print(devview.log_table(events))
        else:
            devview.show(devview.log_table(events))
    finally:
        if args.out:
            out.close()
            sys.stderr.write("pumpctl: wrote %d records to %s\n" % (len(events), args.out))
    return {"ok": True}, None


def _cmd_log(args):
    args_json, args.json = args.json, False      # the log writes its own output
    args.format = "json" if args_json else args.format
    return run_command(args, _log)


# --- programming -------------------------------------------------------------------------------------

def _start_s(text):
    """Seconds into the cycle: '08:00', 'Tue 08:00' (week cycles), '8h', '1d8h' or whole seconds."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    text = text.strip().lower()
    day = 0
    if text[:3] in days:
        day = days.index(text[:3])
        text = text[3:].strip()
    if ":" in text:
        hh, mm = text.split(":", 1)
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError(text)
        return day * 86400 + int(hh) * 3600 + int(mm) * 60
    return day * 86400 + argtypes.duration()(text)


def program_args(args):
    req = {"mode": args.mode}
    if args.mode == "continuous":
        if args.dose_mcg_day is None:
            raise UsageError("continuous needs --dose-mcg-day")
        req["dose_mcg_day"] = args.dose_mcg_day
    elif args.mode == "flex":
        if not args.step:
            raise UsageError("flex needs --step START=DOSE_MCG_DAY at least once (START: 08:00 or seconds)")
        steps = []
        for item in args.step:
            start, sep, dose = item.partition("=")
            try:
                dose_mcg_day = argtypes.number("mcg/day", 0)(dose)
                steps.append([_start_s(start), dose_mcg_day])   # compact pairs: 24 steps fit one frame
            except (ValueError, argtypes.argparse.ArgumentTypeError):
                raise UsageError("bad --step %r: use START=DOSE_MCG_DAY, e.g. 08:00=600 or 'Tue 08:00=600'" % item)
        req.update(cycle=args.cycle, steps=steps)
    elif args.dose_mcg_day is not None:
        raise UsageError("--dose-mcg-day is for continuous (flex: --step START=DOSE_MCG_DAY)")
    if args.confirm_limit:
        req["confirm"] = True
    return req


def _confirm(question):
    if not sys.stdin.isatty():
        return False
    sys.stderr.write(question + " [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _program(link, args):
    req = program_args(args)
    preview = call(link, "program", dry_run=True, **req)
    if not args.json:
        devview.show(devview.compare_table(preview["old"], preview["new"]))
    if not args.yes and not _confirm("apply the new programme?"):
        sys.stderr.write("pumpctl: not applied (confirm, or --yes for scripts)\n")
        return dict(preview, ok=False, error="NOT_CONFIRMED"), None
    reply = call(link, "program", **req)
    return reply, lambda: devview.show(devview.result_table("programme applied", {
        "therapy": reply["new"], "basal_rate_nl_day": reply["rate_nl_day"],
        "refill_due_s": reply.get("refill_due_s")}))


def _flag(args, req):
    if getattr(args, "confirm_limit", False):
        req["confirm"] = True
    return req


# `set` options: protocol field, unit type, help
SET_OPTIONS = (
    ("reservoir_capacity_ml", argtypes.number("mL", 0, 100, lo_open=True), "reservoir capacity (mL)"),
    ("low_reservoir_ml", argtypes.number("mL", 0, 100), "low-reservoir alarm threshold (mL)"),
    ("minimum_ul_day", argtypes.number("uL/day", 0, lo_open=True), "minimum rate that keeps the catheter open"),
    ("catheter_volume_ul", argtypes.number("uL", 0, 2000), "catheter dead space (uL): the bridge bolus volume"),
    ("nl_per_step", argtypes.number("nL/step", 0, lo_open=True), "calibrated volume per step (nL)"),
    ("max_rate_ul_h", argtypes.number("uL/h", 1, 10000), "maximum rate of a prime or calibration run (uL/h)"),
    ("residual_tolerance_ml", argtypes.number("mL", 0, 100),
     "refill: drained vs estimated residual beyond this logs REFILL_MISMATCH (mL)"),
    ("tubing_service_ml", argtypes.number("mL", 0, 10000),
     "tubing reminder (TUBING_SERVICE) after this volume from the calibration (mL; 0 off)"),
)


def set_args(args):
    req = {k: getattr(args, k) for k, _, _ in SET_OPTIONS if getattr(args, k) is not None}
    if args.journal_interval is not None:
        req["journal_interval_s"] = args.journal_interval
    demand = {"dose_mcg": args.demand_dose_mcg, "duration_s": args.demand_duration,
              "lockout_s": args.demand_lockout, "max_per_day": args.demand_max_per_day}
    given = [v is not None for v in demand.values()]
    if args.demand_off:
        if any(given):
            raise UsageError("--demand-off turns demand boluses off: give it without the other --demand-* options")
        req["demand"] = None
    elif all(given):
        req["demand"] = demand
    elif any(given):
        raise UsageError("a demand setting needs all four: --demand-dose-mcg, --demand-duration, "
                         "--demand-lockout, --demand-max-per-day")
    if not req:
        raise UsageError("nothing to set (pumpctl set --help lists the settings)")
    return _flag(args, req)


def _set(link, args):
    req = set_args(args)
    flags = list(req) + (list(DEMAND_FLAGS) if req.get("demand") else [])
    reply = call(link, "set", flags=flags, **req)
    return reply, lambda: devview.show(devview.result_table("settings changed", reply))


def _refill(link, args):
    """refill; on a simulator also fill the mock reservoir (the syringe), as the scenario runner does."""
    reply = call(link, "refill", **_refill_args(args))
    if call(link, "info").get("board") == "sim":
        volume_nl = round(args.volume_ml * 1000) * 1000
        mock = call(link, "sim.fill", volume_nl=volume_nl)
        reply["mock_reservoir_pl"] = mock["reservoir_pl"]
    return reply, lambda: devview.show(devview.result_table("refilled", reply))


def register(sub):
    def add(name, help_text, func, **kw):
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        add_connection(p)
        p.set_defaults(func=func)
        return p

    confirm_help = "accept a value above the drug library's soft limit (never above the hard limit)"
    add("info", "firmware version, board, serial number, keys and counters", lambda a: run_command(a, _info))
    add("status", "therapy, reservoir, refill date, alarms, battery", lambda a: run_command(a, _status))
    p = add("log", "export the event log (table, CSV or JSON)", _cmd_log)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (default, for people), csv or json (raw fields, for scripts)")
    p.add_argument("--since", type=argtypes.whole("sequence number", 0), default=0,
                   help="first sequence number to export (default 0)")
    p.add_argument("--out", type=argtypes.output_file, help="write to this file instead of stdout")

    p = add("program", "programme the therapy: shows present vs new and asks before applying",
            lambda a: run_command(a, _program))
    p.add_argument("mode", choices=("continuous", "flex", "minimum", "stopped"), help="the therapy mode")
    p.add_argument("--dose-mcg-day", type=argtypes.number("mcg/day", 0), help="continuous: the daily dose (mcg/day)")
    p.add_argument("--cycle", choices=("day", "week"), default="day", help="flex: the schedule's cycle (day)")
    p.add_argument("--step", action="append",
                   help="flex: START=DOSE_MCG_DAY, START as 08:00, 'Tue 08:00' (week) or a time like 8h; repeat")
    p.add_argument("--confirm-limit", action="store_true", help=confirm_help)
    p.add_argument("--yes", action="store_true", help="apply without asking (scripts)")

    p = add("bolus", "clinician bolus on top of the basal rate", lambda a: run_command(a, simple(
        "bolus", "bolus started", lambda a: _flag(a, {"dose_mcg": a.dose_mcg, "duration_s": a.duration}))))
    p.add_argument("--dose-mcg", type=argtypes.number("mcg", 0, lo_open=True), required=True,
                   help="the bolus dose (mcg)")
    p.add_argument("--duration", "--duration-s", dest="duration", type=argtypes.duration(1, 7 * 86400),
                   required=True, help="over how long: 30m, 2h, or whole seconds")
    p.add_argument("--confirm-limit", action="store_true", help=confirm_help)

    p = add("prime", "priming bolus: fill the catheter's dead space at the maximum rate", lambda a: run_command(
        a, simple("prime", "priming bolus started", lambda a: {"volume_ul": a.volume_ul})))
    p.add_argument("--volume-ul", type=argtypes.number("uL", 0, lo_open=True), required=True,
                   help="volume to push (uL): the catheter's dead space")

    p = add("refill", "record a refill: drained residual, added volume and concentration (a simulator's "
                      "mock reservoir is filled too)", lambda a: run_command(a, _refill))
    p.add_argument("--drug", required=True, help="drug name from the library (baclofen, ..., saline for the bench)")
    p.add_argument("--conc-mcg-ml", type=argtypes.whole("mcg/mL", 1), required=True,
                   help="concentration (mcg/mL), one of the library's for the drug")
    p.add_argument("--volume-ml", type=argtypes.number("mL", 0, 100), required=True, help="volume filled (mL)")
    p.add_argument("--residual-ml", type=argtypes.number("mL", 0, 100),
                   help="volume drained from the reservoir (mL), checked against the pump's estimate")
    p.add_argument("--bridge", action="store_true", help="bridge bolus for a new concentration of the same drug")

    add("demand", "patient-activated bolus (patient or clinician key)", lambda a: run_command(
        a, simple("demand", "demand bolus")))
    add("ack", "acknowledge the alarms (silences the tone; the alarm stays until its cause is gone)",
        lambda a: run_command(a, simple("ack", "acknowledged")))
    add("selftest", "alarm self-test: sounds the critical, then the non-critical pattern",
        lambda a: run_command(a, simple("selftest", "self-test")))

    p = add("set", "change settings (each validated before any is applied)", lambda a: run_command(a, _set))
    for name, kind, help_text in SET_OPTIONS:
        p.add_argument("--" + name.replace("_", "-"), type=kind, help=help_text)
    p.add_argument("--journal-interval", type=argtypes.duration(60, 86400),
                   help="how often the journal is written: 1m .. 1d (default 1h)")
    p.add_argument("--demand-dose-mcg", type=argtypes.number("mcg", 0, lo_open=True), help="demand: dose (mcg)")
    p.add_argument("--demand-duration", "--demand-duration-s", dest="demand_duration", type=argtypes.duration(1),
                   help="demand: over how long (10m, or seconds)")
    p.add_argument("--demand-lockout", "--demand-lockout-s", dest="demand_lockout", type=argtypes.duration(0),
                   help="demand: shortest time between two (1h, or seconds)")
    p.add_argument("--demand-max-per-day", type=argtypes.whole("per day", 1), help="demand: at most this many a day")
    p.add_argument("--demand-off", action="store_true", help="disable demand boluses")
    p.add_argument("--confirm-limit", action="store_true", help=confirm_help)

    p = add("calibration-run", "bench: exactly --steps steps at the maximum rate, to weigh (firmware 'calibrate')",
            lambda a: run_command(a, simple("calibrate", "calibration run started", lambda a: {"steps": a.steps})))
    p.add_argument("--steps", type=argtypes.whole("steps", 1, 1_000_000), required=True,
                   help="number of steps to make (1..1000000)")

    p = add("set-time", "set the pump's wall clock (UTC)", lambda a: run_command(
        a, simple("set_time", "clock set", _time_args)))
    p.add_argument("--wall", "--wall-s", dest="wall", type=argtypes.duration(0),
                   help="time since 2024-01-01 00:00 UTC: 120d8h, or seconds (default: now)")


def _refill_args(args):
    req = {"drug": args.drug, "conc_mcg_ml": args.conc_mcg_ml, "volume_ml": args.volume_ml}
    if args.residual_ml is not None:
        req["residual_ml"] = args.residual_ml
    if args.bridge:
        req["bridge"] = True
    return req


def _time_args(args):
    if args.wall is not None:
        return {"wall_s": args.wall}
    import time
    return {"wall_s": int(time.time() - devview.EPOCH.timestamp())}
