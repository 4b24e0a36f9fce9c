"""What every device subcommand shares (pumpctl.cli_device, cli_keys, cli_sim, ui.cli): the connection
options, opening the link, sending one command with its refusal turned into the options the user typed,
and running a command body with its human or --json output. Exit codes: Refused 1, UsageError 2.
"""

import json
import os
import sys

from pumpctl import argtypes, devview
from pumpctl import keys as keyfile
from pumpctl.link import DEFAULT, INTERPRETERS, LinkError, PumpLink
from pumpctl.sign import ROLES, is_public, role_preference

ENV_PORT = "PUMPCTL_PORT"            # the --port default (e.g. a served simulator's socket:// URL)
ENV_DEV_KEYS = "PUMPCTL_DEV_KEYS"    # 1: sign with the simulator's development keys, as --dev-keys


class UsageError(Exception):
    pass


class Refused(Exception):
    def __init__(self, cmd, reply, flags=None):
        super().__init__("%s refused: %s %s" % (cmd, reply.get("error"), explain(cmd, reply, flags)))
        self.reply = reply


# --- what the user typed, in refusals ------------------------------------------------------------------

# protocol field -> the option that sets it, where the name differs from --field-with-dashes
FLAG_NAMES = {
    "duration_s": "--duration", "lockout_s": "--demand-lockout", "wall_s": "--wall", "steps": "--step",
    "confirm": "--confirm-limit", "volume_nl": "--volume-ml", "until_s": "--until",
}
DEMAND_FLAGS = {"dose_mcg": "--demand-dose-mcg", "duration_s": "--demand-duration",
                "lockout_s": "--demand-lockout", "max_per_day": "--demand-max-per-day"}


def flag_name(cmd, field):
    if cmd == "set" and field in DEMAND_FLAGS:
        return DEMAND_FLAGS[field]
    if cmd == "calibrate" and field == "steps":
        return "--steps"
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def explain(cmd, reply, flags=None):
    """The pump's message with its field names turned into the options the user typed."""
    msg = str(reply.get("msg") or "")
    msg = msg.replace('resend with "confirm": true', "add --confirm-limit if the dose is intended")
    for field in flags if flags is not None else ():
        msg = msg.replace("'%s'" % field, flag_name(cmd, field))
    error = reply.get("error") or ""
    if error == "E_AUTH_RATE_LIMIT":
        msg += " (`pumpctl info` shows how long the lockout lasts)"
    elif error == "E_AUTH_MAC":
        msg += " (the key file does not hold this pump's keys: check --keys, or --dev-keys for a simulator)"
    elif error == "E_NO_DRUG" and reply.get("fresh_sim"):
        msg += " (--sim starts a fresh, empty simulator for each command: keep one with `pumpctl sim serve`)"
    if reply.get("unread"):
        msg += " (the pump could not read the request)"
    return msg


# --- connection --------------------------------------------------------------------------------------

def add_connection(p):
    g = p.add_argument_group("connection")
    g.add_argument("--port", help="the pump: a board's serial port (/dev/ttyACM0; `pumpctl ports` lists them), "
                                  "a pty, or a served simulator socket://127.0.0.1:PORT (default: $%s)" % ENV_PORT)
    g.add_argument("--sim", action="store_true",
                   help="start a fresh simulator for this command only (its state is gone afterwards; "
                        "`pumpctl sim serve` keeps one between commands)")
    g.add_argument("--interp", choices=INTERPRETERS, default="micropython",
                   help="--sim: run the firmware on the MicroPython unix port (default) or CPython")
    g.add_argument("--keys", type=argtypes.input_file,
                   help="key file to sign with (default: $PUMPCTL_KEYS or ~/.config/pumpctl/keys.json; "
                        "with --sim the simulator's development keys)")
    g.add_argument("--dev-keys", action="store_true",
                   help="sign with the simulator's public development keys (a served simulator; "
                        "also $%s=1)" % ENV_DEV_KEYS)
    g.add_argument("--role", choices=ROLES, help="sign as this role (default: the narrowest the keys allow)")
    g.add_argument("--timeout", type=argtypes.number("s", 0, lo_open=True), default=30.0,
                   help="seconds to wait for each reply (default 30)")
    p.add_argument("--json", action="store_true", help="print the pump's reply as one JSON object")


def _port(args):
    if args.port:
        return args.port
    return None if args.sim else os.environ.get(ENV_PORT) or None


def open_link(args, keys=DEFAULT):
    port = _port(args)
    if bool(port) == bool(args.sim):
        raise UsageError("give either --port PORT or --sim (a served simulator: --port socket://127.0.0.1:PORT, "
                         "or set %s)" % ENV_PORT)
    device = None
    if keys is DEFAULT:
        if args.dev_keys or (os.environ.get(ENV_DEV_KEYS) == "1" and not args.keys):
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
        link.fresh_sim = True
    else:
        link = PumpLink.serial(port, keys=keys, role=args.role, timeout_s=args.timeout)
    if device is not None:
        serial = link.call("info").get("serial")
        if serial != device:
            link.close()
            raise LinkError("the key file is for device %s, this pump is %s" % (device, serial))
    return link


def no_key_message(link, cmd, args):
    """Why `cmd` cannot be signed with the keys at hand, or None if it can (or needs no key)."""
    if is_public(cmd) or link.role_for(cmd, args) is not None:
        return None
    wanted = (link.role,) if link.role else role_preference(cmd, args)
    have = ", ".join(sorted(link.keys)) if link.keys else None
    return "no %s key found%s: use --keys FILE or --dev-keys (a simulator)" % (
        " or ".join(wanted), " (the keys at hand: %s)" % have if have else "")


def call(link, cmd, flags=None, **args):
    """Send one command; raise Refused (exit 1) if the pump refuses it, UsageError (exit 2) if there is
    no key to sign it with (nothing is sent: an unsigned attempt counts towards the pump's lockout)."""
    missing = no_key_message(link, cmd, args)
    if missing:
        raise UsageError(missing)
    reply = link.request(cmd, **args)
    if not reply.get("ok"):
        if getattr(link, "fresh_sim", False):
            reply = dict(reply, fresh_sim=True)
        raise Refused(cmd, reply, args if flags is None else flags)
    return reply


def run_command(args, body):
    """Open the link, run body(link, args) -> (reply, human renderer or None), print, close."""
    link = None
    try:
        link = open_link(args)
        reply, human = body(link, args)
    except Refused as exc:
        if args.json:
            sys.stdout.write(json.dumps({k: v for k, v in exc.reply.items() if k != "fresh_sim"}) + "\n")
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
    if args.sim and not args.json and args.command not in READ_ONLY:
        sys.stderr.write("pumpctl: note: --sim ran this on a fresh simulator, which is gone now; "
                         "`pumpctl sim serve` keeps one between commands\n")
    return 0 if reply.get("ok", True) else 1


READ_ONLY = ("info", "status", "log")


def simple(cmd, title, build=lambda args: {}):
    def body(link, args):
        reply = call(link, cmd, **build(args))
        return reply, lambda: devview.show(devview.result_table(title, reply))
    return body
