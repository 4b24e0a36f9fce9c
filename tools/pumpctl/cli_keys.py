"""`pumpctl keys`: generate key files, provision a pump (the bench step), rotate keys, show the state.

First provisioning (docs/protocol.md, "Key provisioning"): close the bench jumper, boot, then
    pumpctl keys generate --out pump.json
    pumpctl keys provision --keys pump.json --port /dev/ttyACM0
    (open the jumper and reboot: the bench role and bench commands are then refused)
Rotation later (no jumper needed): pumpctl keys provision --keys new.json --current-keys pump.json --port ...
"""

import json
import sys

from pumpctl import devview
from pumpctl import keys as keyfile
from pumpctl.devcmd import Refused, UsageError, add_connection, call, open_link, run_command
from pumpctl.link import LinkError
from pumpctl.sign import ROLES


def _err(msg, code):
    sys.stderr.write("pumpctl: %s\n" % msg)
    return code


def cmd_generate(args):
    roles = tuple(r.strip() for r in args.roles.split(",")) if args.roles else ROLES
    try:
        keys = keyfile.generate(roles)
        path = keyfile.save(args.out, keys, device=args.device, force=args.force)
    except keyfile.KeyFileError as exc:
        return _err(str(exc), 2)
    print("wrote %s keys to %s (mode 600): keep it secret; give a patient only `keys extract --role patient`"
          % (", ".join(roles), path))
    return 0


def cmd_extract(args):
    try:
        keys, device, _ = keyfile.load(args.keys)
        if args.role not in keys:
            return _err("%s holds no %s key" % (args.keys, args.role), 2)
        path = keyfile.save(args.out, {args.role: keys[args.role]}, device=device, force=args.force)
    except keyfile.KeyFileError as exc:
        return _err(str(exc), 2)
    print("wrote the %s key to %s (mode 600)" % (args.role, path))
    return 0


def cmd_dev(args):
    try:
        path = keyfile.save(args.out, keyfile.dev_keys(), device=None, force=args.force)
    except keyfile.KeyFileError as exc:
        return _err(str(exc), 2)
    print("wrote the simulator's development keys to %s (public: for simulators only)" % path)
    return 0


def cmd_provision(args):
    try:
        new, _, warnings = keyfile.load(args.keys)
        current = keyfile.load(args.current_keys)[0] if args.current_keys else None
    except keyfile.KeyFileError as exc:
        return _err(str(exc), 2)
    for warning in warnings:
        sys.stderr.write("pumpctl: warning: %s\n" % warning)
    args.keys = None
    try:
        link = open_link(args, keys=current)
    except (UsageError, LinkError) as exc:
        return _err(str(exc), 2 if isinstance(exc, UsageError) else 1)
    try:
        state = call(link, "keys.state")
        info = call(link, "info")
        serial = info.get("serial")
        if info.get("board") != "sim":      # a board refuses them too (firmware/cmd_keys.py weak_key)
            for role in ROLES:
                reason = keyfile.weak_reason(new[role]) if role in new else None
                if reason:
                    return _err("refusing to put the %s key on a board: %s (pumpctl keys generate)"
                                % (role, reason), 2)
        provisioned = state["roles"]["clinician"]["key"]
        if provisioned and not current:
            return _err("the pump has keys: give --current-keys with its clinician key to rotate them", 2)
        if not provisioned and not state.get("bench"):
            return _err("the first provisioning needs the bench: close the bench jumper and boot", 1)
        role = "clinician" if provisioned else None
        reply = link.request_as(role, "keys.provision", **keyfile.provision_args(new))
        if not reply.get("ok"):
            raise Refused("keys.provision", reply)
    except Refused as exc:
        return _err(str(exc), 1)
    except LinkError as exc:
        return _err(str(exc), 1)
    finally:
        link.close()
    if not args.sim:
        keys_now = keyfile.load(args.keys_path)[0]
        keyfile.save(args.keys_path, keys_now, device=serial, force=True)   # bind the file to the device
    if args.json:
        print(json.dumps(reply))
    else:
        print("provisioned %s on %s (re-keyed: %s)" % (", ".join(reply["roles"]), serial,
                                                       ", ".join(reply["rekeyed"]) or "none"))
    return 0


def cmd_state(args):
    def body(link, args):
        reply = call(link, "keys.state")
        info = call(link, "info")
        return reply, lambda: devview.show(devview.info_table(info, reply))
    return run_command(args, body)


def register(sub):
    keys = sub.add_parser("keys", help="key files, provisioning (bench step) and rotation")
    ks = keys.add_subparsers(dest="keys_command", required=True)

    p = ks.add_parser("generate", help="write fresh random keys to a key file (mode 600)")
    p.add_argument("--out", required=True, help="the key file to write (mode 600; never overwritten without --force)")
    p.add_argument("--roles", help="comma-separated roles (default: clinician,patient,bench)")
    p.add_argument("--device", help="serial number the keys are for")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_generate)

    p = ks.add_parser("extract", help="copy one role's key into its own file (e.g. a patient's programmer)")
    p.add_argument("--keys", required=True, help="the key file to copy the key from")
    p.add_argument("--role", choices=ROLES, required=True, help="the role whose key to copy")
    p.add_argument("--out", required=True, help="the new key file (mode 600)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_extract)

    p = ks.add_parser("dev", help="write the simulator's development keys (public; simulators only)")
    p.add_argument("--out", required=True, help="the key file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_dev)

    p = ks.add_parser("provision", help="put a key file's keys on the pump (first: bench jumper; later: rotation)")
    add_connection(p)
    p.add_argument("--current-keys", help="key file with the pump's present clinician key (rotation)")
    p.set_defaults(func=lambda a: cmd_provision(_keep_path(a)))

    p = ks.add_parser("state", help="which roles have keys, their counters, bench, lockout")
    add_connection(p)
    p.set_defaults(func=cmd_state)


def _keep_path(args):
    args.keys_path = args.keys
    if not args.keys:
        sys.stderr.write("pumpctl: keys provision needs --keys FILE (the keys to put on the pump)\n")
        sys.exit(2)
    return args
