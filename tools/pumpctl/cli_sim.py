"""`pumpctl sim`: serve a long-running simulator on a pseudo-terminal or a local socket, and its bench
commands (time control, the mock pump, fault injection).

    pumpctl sim serve --pty              # prints /dev/pts/N: then pumpctl ... --port /dev/pts/N --dev-keys
    pumpctl sim serve --listen 5555      # then pumpctl ... --port socket://127.0.0.1:5555 --dev-keys
    pumpctl sim run --until 2d --port ... --dev-keys     # virtual time moves only through this
"""

import os
import signal
import subprocess
import sys

from pumpctl import devview
from pumpctl.link import INTERPRETERS, REPO_ROOT, sim_command
from pumpctl.timefmt import parse_time

FAULTS = ("motor_stall", "occlusion", "disconnect", "battery_low", "battery_eos", "flash_fail", "clear")
CHUNK_S = 86400


def start_server(interp="micropython", pty=False, listen=None, provision=True, **options):
    """Start a simulator for clients to attach to. Returns (process, where to connect, closer).
    pty: the simulator gets the master side of a new pseudo-terminal as stdin/stdout and we keep the
    slave open (so the pty lives between clients); listen: it serves TCP on 127.0.0.1:listen."""
    if not provision:
        options["provision"] = 0
    if listen is not None:
        options["listen"] = listen
        proc = subprocess.Popen(sim_command(interp, **options), stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, cwd=str(REPO_ROOT))
        line = proc.stderr.readline().decode(errors="replace")
        if "listening" not in line:
            proc.kill()
            raise RuntimeError("the simulator did not start: %s%s" % (line, proc.stderr.read().decode()[-2000:]))
        return proc, "socket://127.0.0.1:%d" % listen, lambda: None
    if not pty:
        raise ValueError("serve needs pty=True or listen=PORT")
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)            # no echo, no CR/LF translation: the bytes of a USB CDC port
    proc = subprocess.Popen(sim_command(interp, **options), stdin=master, stdout=master,
                            stderr=subprocess.DEVNULL, cwd=str(REPO_ROOT), close_fds=True)
    os.close(master)
    return proc, os.ttyname(slave), lambda: os.close(slave)


def cmd_serve(args):
    options = {"start_ticks": args.start_ticks}
    try:
        proc, where, closer = start_server(args.interp, pty=args.pty, listen=args.listen,
                                           provision=not args.no_keys, **options)
    except (RuntimeError, ValueError, OSError) as exc:
        sys.stderr.write("pumpctl: %s\n" % exc)
        return 1
    print(where, flush=True)
    sys.stderr.write("pumpctl: simulator (%s, pid %d) on %s; attach with --port %s%s; Ctrl-C stops it\n"
                     % (args.interp, proc.pid, where, where, "" if args.no_keys else " --dev-keys"))
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
    finally:
        closer()
    return 0


def _run_body(link, args):
    from pumpctl.cli_device import call
    until_s = parse_time(args.until)
    now_s = call(link, "sim.state")["elapsed_ms"] // 1000
    if until_s < now_s:
        from pumpctl.cli_device import UsageError
        raise UsageError("--until %s is before the simulator's present time (%d s)" % (args.until, now_s))
    steps = []
    t = now_s
    while t < until_s:
        t = min(until_s, (t // CHUNK_S + 1) * CHUNK_S)
        steps.append(t)
    reply = {"ok": True, "until_s": until_s}
    if args.json or len(steps) < 2 or not sys.stderr.isatty():
        for t in steps:
            reply = call(link, "sim.run", until_s=t)
    else:
        from rich.progress import Progress
        with Progress(transient=True) as progress:
            task = progress.add_task("simulating", total=until_s - now_s)
            for t in steps:
                reply = call(link, "sim.run", until_s=t)
                progress.update(task, completed=t - now_s)
    status = call(link, "status")
    reply["alarms"] = status["alarms"]
    alarms = ", ".join(a["code"] for a in status["alarms"]) or "none"
    return reply, lambda: print("simulator at %d s (%s); alarms: %s" % (until_s, devview.date(until_s), alarms))


def register(sub, add_connection):
    from pumpctl.cli_device import run_command, simple
    sim = sub.add_parser("sim", help="serve a simulator (pty or socket) and its bench commands")
    ss = sim.add_subparsers(dest="sim_command", required=True)

    p = ss.add_parser("serve", help="run a simulator that pumpctl attaches to with --port")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="on a pseudo-terminal (prints its /dev/pts path)")
    where.add_argument("--listen", type=int, metavar="PORT", help="on TCP 127.0.0.1:PORT")
    p.add_argument("--interp", choices=INTERPRETERS, default="micropython")
    p.add_argument("--start-ticks", type=int, default=0)
    p.add_argument("--no-keys", action="store_true", help="a factory-new pump: no development keys")
    p.set_defaults(func=cmd_serve)

    p = ss.add_parser("run", help="move virtual time forward to --until (e.g. 2d, 36h, 90s)")
    add_connection(p)
    p.add_argument("--until", required=True)
    p.set_defaults(func=lambda a: run_command(a, _run_body))

    p = ss.add_parser("state", help="the mock pump: pulses, fluid truly moved, reservoir, virtual time")
    add_connection(p)
    p.set_defaults(func=lambda a: run_command(a, simple("sim.state", "simulator")))

    p = ss.add_parser("fault", help="act a fault out in the mocks (the firmware must notice it)")
    add_connection(p)
    p.add_argument("fault", choices=FAULTS)
    p.set_defaults(func=lambda a: run_command(a, simple("sim.fault", "fault", lambda a: {"fault": a.fault})))

    p = ss.add_parser("fill", help="fill the mock reservoir (the syringe; `refill` tells the firmware)")
    add_connection(p)
    p.add_argument("--volume-ml", type=float, required=True)
    p.set_defaults(func=lambda a: run_command(a, simple(
        "sim.fill", "mock reservoir", lambda a: {"volume_nl": round(a.volume_ml * 1_000_000)})))
