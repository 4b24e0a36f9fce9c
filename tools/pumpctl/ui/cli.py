"""`pumpctl ui`: serve the bench dashboard for a board (`--port`) or a simulator (`--sim`).

    pumpctl ui --sim                                   # a fresh simulator, development keys
    pumpctl ui --port socket://127.0.0.1:5555 --dev-keys      # a served simulator (pumpctl sim serve)
    pumpctl ui --port /dev/ttyACM0 --keys pump-e661.json      # a board
    then open http://127.0.0.1:8765/ (the first line on stdout is the address)

The server binds 127.0.0.1 by default; another address needs --allow-remote (anyone who reaches it
can send the pump commands signed with the loaded keys) and prints a warning. Ctrl-C stops it.
Exit codes: 0 stopped, 1 the server or the simulator could not start, 2 invalid input.
"""

import ipaddress
import os
import sys

from pumpctl.sign import ROLES

DEFAULT_LISTEN = "127.0.0.1:8765"


class ListenError(ValueError):
    pass


def parse_listen(text):
    """'HOST:PORT' -> (host, port, loopback). IPv6 hosts in brackets: '[::1]:8765'. Port 0: any free one."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host:
        raise ListenError("--listen wants HOST:PORT, e.g. 127.0.0.1:8765 (got %r)" % text)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port)
    except ValueError:
        raise ListenError("--listen: the port must be a number from 0 to 65535 (got %r)" % port)
    if not 0 <= port <= 65535:
        raise ListenError("--listen: the port must be a number from 0 to 65535 (got %d)" % port)
    if host == "localhost":
        return host, port, True
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ListenError("--listen: %r is not an IP address (use 127.0.0.1, or an interface's address)" % host)
    return host, port, loopback


def allowed_hosts(host, port):
    """Host header values of a loopback server's own page."""
    names = {"127.0.0.1", "localhost", host}
    return {"%s:%d" % (name if ":" not in name else "[%s]" % name, port) for name in names}


def register(sub):
    import argparse
    p = sub.add_parser("ui", help="bench dashboard in the browser: live status, alarms, log, charts, commands",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="start a fresh simulator owned by the dashboard")
    where.add_argument("--port", help="a board's serial port (/dev/ttyACM0), a pty, or socket://127.0.0.1:PORT "
                                      "(a served simulator; default: $PUMPCTL_PORT)")
    p.add_argument("--interp", choices=("micropython", "cpython"), default="micropython",
                   help="--sim: the simulator's interpreter (micropython)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--keys", help="key file to sign commands with (default: $PUMPCTL_KEYS or "
                                     "~/.config/pumpctl/keys.json; with --sim the development keys)")
    keys.add_argument("--dev-keys", action="store_true", help="sign with the simulator's development keys")
    p.add_argument("--role", choices=ROLES, help="sign as this role (default: the narrowest the keys allow)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply from the pump (10)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help="address of the dashboard (%s; port 0 picks a free one)" % DEFAULT_LISTEN)
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --listen on an address other than loopback (the network can then command the pump)")
    p.add_argument("--poll-s", type=float, default=1.0, help="seconds between status polls (1)")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args):
    try:
        host, port, loopback = parse_listen(args.listen)
    except ListenError as exc:
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 2
    if not loopback and not args.allow_remote:
        sys.stderr.write("pumpctl: --listen %s is reachable from the network: anyone there could send the pump "
                         "commands signed with your keys. Add --allow-remote if you mean it.\n" % args.listen)
        return 2
    if not (0.05 <= args.poll_s <= 60) or not (0.1 <= args.timeout <= 600):
        sys.stderr.write("pumpctl: --poll-s must be 0.05..60 s and --timeout 0.1..600 s\n")
        return 2
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        sys.stderr.write("pumpctl: the dashboard needs aiohttp: pip install 'pumpctl[ui]' "
                         "(or make venv in the source tree)\n")
        return 1
    from pumpctl.devcmd import UsageError, open_link
    from pumpctl.link import LinkError
    from pumpctl.ui.device import Device

    args.json = False
    if args.sim:
        where = "simulator (%s, started by pumpctl ui)" % args.interp
    else:
        where = args.port or os.environ.get("PUMPCTL_PORT") or "?"
    try:
        first = open_link(args)
    except UsageError as exc:
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 2
    except LinkError as exc:
        if args.sim:
            sys.stderr.write("pumpctl: %s\n" % exc)
            return 1
        sys.stderr.write("pumpctl: warning: %s (the dashboard shows it and tries again)\n" % exc)
        first = None
    pending = [first]

    def opener():
        if pending and pending[0] is not None:
            return pending.pop()
        pending.clear()
        return open_link(args)

    device = Device(opener, where, reconnect=not args.sim)
    if not loopback:
        sys.stderr.write("pumpctl: WARNING: the dashboard listens on %s: anyone who reaches this address can "
                         "command the pump with the loaded keys\n" % args.listen)
    return serve(device, host, port, loopback, args.poll_s)


def serve(device, host, port, loopback, poll_s):
    import asyncio
    import signal

    from aiohttp import web

    from pumpctl.ui.server import Hub, make_app

    async def main():
        hub = Hub(device, poll_s=poll_s)
        hosts = set() if loopback else None      # filled in once the port is known (port 0: a free one)
        runner = web.AppRunner(make_app(hub, hosts), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0][1]
            if hosts is not None:
                hosts.update(allowed_hosts(host, bound))
            url = "http://%s:%d/" % (host if ":" not in host else "[%s]" % host, bound)
            print(url, flush=True)
            sys.stderr.write("pumpctl: dashboard for %s on %s; Ctrl-C stops it\n" % (device.where, url))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except OSError as exc:
        sys.stderr.write("pumpctl: cannot serve on %s:%d: %s\n" % (host, port, exc))
        device.close()
        return 1
    sys.stderr.write("pumpctl: dashboard stopped\n")
    return 0
