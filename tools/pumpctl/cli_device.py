"""Device subcommands: one per protocol command (docs/protocol.md), for a board (`--port`) or the
simulator (`--sim`, or a served one: `pumpctl sim serve`, then `--port socket://127.0.0.1:PORT`).

Human output by default (rich tables, dates from the pump epoch 2024-01-01 00:00 UTC); `--json`
prints the pump's reply as one JSON object. Exit codes: 0 done; 1 refused by the pump, not confirmed,
or the link failed; 2 invalid input.
"""

import csv
import json
import sys

from pumpctl import devview
from pumpctl import keys as keyfile
from pumpctl.link import DEFAULT, INTERPRETERS, LinkError, PumpLink
from pumpctl.sign import ROLES


class UsageError(Exception):
    pass


class Refused(Exception):
    def __init__(self, cmd, reply):
        super().__init__("%s refused: %s %s" % (cmd, reply.get("error"), reply.get("msg")))
        self.reply = reply


# --- connection --------------------------------------------------------------------------------------

def add_connection(p):
    g = p.add_argument_group("connection")
    g.add_argument("--port", help="board serial port (/dev/ttyACM0), a pty, or socket://127.0.0.1:PORT")
    g.add_argument("--sim", action="store_true", help="start a fresh simulator for this command")
    g.add_argument("--interp", choices=INTERPRETERS, default="micropython", help="simulator interpreter")
    g.add_argument("--keys", help="key file (default: $PUMPCTL_KEYS or ~/.config/pumpctl/keys.json; "
                                  "with --sim the simulator's development keys)")
    g.add_argument("--dev-keys", action="store_true", help="sign with the simulator's development keys")
    g.add_argument("--role", choices=ROLES, help="sign as this role (default: the narrowest the keys allow)")
    g.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a reply (30)")
    p.add_argument("--json", action="store_true", help="print the pump's reply as one JSON object")


def open_link(args, keys=DEFAULT):
    if bool(args.port) == bool(args.sim):
        raise UsageError("give either --port PORT or --sim")
    device = None
    if keys is DEFAULT:
        if args.dev_keys:
            keys = keyfile.dev_keys()
        elif args.keys:
            try:
                keys, device, warnings = keyfile.load(args.keys)
            except keyfile.KeyFileError as exc:
                raise UsageError(str(exc))
            for warning in warnings:
                sys.stderr.write("pumpctl: warning: %s\n" % warning)
    if args.sim:
        link = PumpLink.simulator(args.interp, keys=keys, role=args.role)
    else:
        link = PumpLink.serial(args.port, keys=keys, role=args.role, timeout_s=args.timeout)
    if device is not None:
        serial = link.call("info").get("serial")
        if serial != device:
            link.close()
            raise LinkError("the key file is for device %s, this pump is %s" % (device, serial))
    return link


def call(link, cmd, **args):
    reply = link.request(cmd, **args)
    if not reply.get("ok"):
        raise Refused(cmd, reply)
    return reply


def run_command(args, body):
    """Open the link, run body(link, args) -> (reply, human renderer or None), print, close."""
    link = None
    try:
        link = open_link(args)
        reply, human = body(link, args)
    except Refused as exc:
        if args.json:
            sys.stdout.write(json.dumps(exc.reply) + "\n")
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 1
    except UsageError as exc:
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 2
    except LinkError as exc:
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 1
    finally:
        if link is not None:
            link.close()
    if args.json:
        sys.stdout.write(json.dumps(reply) + "\n")
    elif human is not None:
        human()
    return 0 if reply.get("ok", True) else 1


def simple(cmd, title, build=lambda args: {}):
    def body(link, args):
        reply = call(link, cmd, **build(args))
        return reply, lambda: devview.show(devview.result_table(title, reply))
    return body


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
    """Seconds into the cycle: '28800', '08:00' or 'Tue 08:00' (week cycles)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    text = text.strip().lower()
    day = 0
    if text[:3] in days:
        day = days.index(text[:3])
        text = text[3:].strip()
    if ":" in text:
        hh, mm = text.split(":", 1)
        return day * 86400 + int(hh) * 3600 + int(mm) * 60
    return day * 86400 + int(text)


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
                steps.append({"start_s": _start_s(start), "dose_mcg_day": float(dose)})
            except ValueError:
                raise UsageError("bad --step %r: use START=DOSE, e.g. 08:00=600" % item)
        req.update(cycle=args.cycle, steps=steps)
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
        "therapy": devview.therapy(reply["new"]), "basal rate": "%.3f uL/day" % (reply["rate_nl_day"] / 1000),
        "refill due": devview.date(reply.get("refill_due_s"))}))


def _flag(args, req):
    if getattr(args, "confirm_limit", False):
        req["confirm"] = True
    return req


SET_OPTIONS = (("reservoir_capacity_ml", float), ("low_reservoir_ml", float), ("minimum_ul_day", float),
               ("catheter_volume_ul", float), ("nl_per_step", float), ("max_rate_ul_h", float),
               ("residual_tolerance_ml", float))


def set_args(args):
    req = {k: getattr(args, k) for k, _ in SET_OPTIONS if getattr(args, k) is not None}
    demand = {"dose_mcg": args.demand_dose_mcg, "duration_s": args.demand_duration_s,
              "lockout_s": args.demand_lockout_s, "max_per_day": args.demand_max_per_day}
    given = [v is not None for v in demand.values()]
    if args.demand_off:
        req["demand"] = None
    elif all(given):
        req["demand"] = demand
    elif any(given):
        raise UsageError("a demand setting needs all four: --demand-dose-mcg, --demand-duration-s, "
                         "--demand-lockout-s, --demand-max-per-day")
    if not req:
        raise UsageError("nothing to set")
    return _flag(args, req)


def register(sub):
    from pumpctl import cli_keys, cli_sim

    def add(name, help_text, func, **kw):
        p = sub.add_parser(name, help=help_text, **kw)
        add_connection(p)
        p.set_defaults(func=func)
        return p

    add("info", "firmware version, board, serial number, keys and counters", lambda a: run_command(a, _info))
    add("status", "therapy, reservoir, refill date, alarms, battery", lambda a: run_command(a, _status))
    p = add("log", "export the event log (table, CSV or JSON)", _cmd_log)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--since", type=int, default=0, help="first sequence number")
    p.add_argument("--out", help="write to this file instead of stdout")

    p = add("program", "programme the therapy: shows present vs new and asks before applying",
            lambda a: run_command(a, _program))
    p.add_argument("mode", choices=("continuous", "flex", "minimum", "stopped"))
    p.add_argument("--dose-mcg-day", type=float, help="continuous: the daily dose")
    p.add_argument("--cycle", choices=("day", "week"), default="day", help="flex: the schedule's cycle")
    p.add_argument("--step", action="append", help="flex: START=DOSE_MCG_DAY (START 08:00, 'Tue 08:00' or s)")
    p.add_argument("--confirm-limit", action="store_true", help="accept a dose above the drug's soft limit")
    p.add_argument("--yes", action="store_true", help="apply without asking (scripts)")

    p = add("bolus", "clinician bolus on top of the basal rate", lambda a: run_command(a, simple(
        "bolus", "bolus started", lambda a: _flag(a, {"dose_mcg": a.dose_mcg, "duration_s": a.duration_s}))))
    p.add_argument("--dose-mcg", type=float, required=True)
    p.add_argument("--duration-s", type=int, required=True)
    p.add_argument("--confirm-limit", action="store_true", help="accept a dose above the drug's soft limit")

    p = add("prime", "priming bolus: fill the catheter's dead space at the maximum rate", lambda a: run_command(
        a, simple("prime", "priming bolus started", lambda a: {"volume_ul": a.volume_ul})))
    p.add_argument("--volume-ul", type=float, required=True)

    p = add("refill", "record a refill: drained residual, added volume and concentration", lambda a: run_command(
        a, simple("refill", "refilled", _refill_args)))
    p.add_argument("--drug", required=True)
    p.add_argument("--conc-mcg-ml", type=int, required=True)
    p.add_argument("--volume-ml", type=float, required=True)
    p.add_argument("--residual-ml", type=float, help="volume drained from the reservoir")
    p.add_argument("--bridge", action="store_true", help="bridge bolus for a new concentration")

    add("demand", "patient-activated bolus (patient or clinician key)", lambda a: run_command(
        a, simple("demand", "demand bolus")))
    add("ack", "acknowledge the alarms (silences the tone; the alarm stays until its cause is gone)",
        lambda a: run_command(a, simple("ack", "acknowledged")))
    add("selftest", "alarm self-test: sounds the critical, then the non-critical pattern",
        lambda a: run_command(a, simple("selftest", "self-test")))

    p = add("set", "change settings (each validated before any is applied)", lambda a: run_command(
        a, simple("set", "settings changed", set_args)))
    for name, kind in SET_OPTIONS:
        p.add_argument("--" + name.replace("_", "-"), type=kind)
    p.add_argument("--demand-dose-mcg", type=float)
    p.add_argument("--demand-duration-s", type=int)
    p.add_argument("--demand-lockout-s", type=int)
    p.add_argument("--demand-max-per-day", type=int)
    p.add_argument("--demand-off", action="store_true", help="disable demand boluses")
    p.add_argument("--confirm-limit", action="store_true", help="accept values above the drug's soft limits")

    p = add("calibration-run", "bench: exactly --steps steps at the maximum rate, to weigh (firmware 'calibrate')",
            lambda a: run_command(a, simple("calibrate", "calibration run started", lambda a: {"steps": a.steps})))
    p.add_argument("--steps", type=int, required=True)

    p = add("set-time", "set the pump's wall clock (UTC)", lambda a: run_command(
        a, simple("set_time", "clock set", _time_args)))
    p.add_argument("--wall-s", type=int, help="seconds since 2024-01-01 00:00 UTC (default: now)")

    cli_keys.register(sub, add_connection)
    cli_sim.register(sub, add_connection)


def _refill_args(args):
    req = {"drug": args.drug, "conc_mcg_ml": args.conc_mcg_ml, "volume_ml": args.volume_ml}
    if args.residual_ml is not None:
        req["residual_ml"] = args.residual_ml
    if args.bridge:
        req["bridge"] = True
    return req


def _time_args(args):
    if args.wall_s is not None:
        return {"wall_s": args.wall_s}
    import time
    return {"wall_s": int(time.time() - devview.EPOCH.timestamp())}
