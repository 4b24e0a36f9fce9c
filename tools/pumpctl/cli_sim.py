"""`pumpctl sim`: serve a long-running simulator (a local socket or a pseudo-terminal) that keeps its
state between commands, and its bench commands (time control, the mock pump, fault injection).

    pumpctl sim serve                    # prints socket://127.0.0.1:PORT (a free port) and how to attach
    pumpctl sim serve --listen 5555      # then pumpctl ... --port socket://127.0.0.1:5555 --dev-keys
    pumpctl sim serve --pty              # prints /dev/pts/N: then pumpctl ... --port /dev/pts/N --dev-keys
    pumpctl sim run --until 2d --port ... --dev-keys     # virtual time moves only through this
    pumpctl sim run --for 12h ...                        # or by a span from the simulator's present time
"""

import os
import signal
import socket
import subprocess
import sys

from pumpctl import argtypes, devview, simtree
from pumpctl.devcmd import UsageError, add_connection, call, run_command, simple
from pumpctl.link import INTERPRETERS, REPO_ROOT, sim_command
from pumpctl.timefmt import format_span

FAULTS = simtree.sim_bench().FAULTS      # the names sim.fault takes (boards/sim/bench.py)
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


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_serve(args):
    options = {"start_ticks": args.start_ticks}
    listen = args.listen if args.listen is not None or args.pty else free_port()
    try:
        proc, where, closer = start_server(args.interp, pty=args.pty, listen=listen,
                                           provision=not args.no_keys, **options)
    except (RuntimeError, ValueError, OSError) as exc:
        sys.stderr.write("pumpctl: the simulator did not start: %s\n" % exc)
        return 1
    print(where, flush=True)
    sys.stderr.write("pumpctl: simulator (%s, pid %d) on %s; Ctrl-C stops it. Attach with --port %s%s, or:\n"
                     "  export PUMPCTL_PORT=%s%s\n"
                     % (args.interp, proc.pid, where, where, "" if args.no_keys else " --dev-keys",
                        where, "" if args.no_keys else " PUMPCTL_DEV_KEYS=1"))
    sys.stderr.flush()
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
    now_s = call(link, "sim.state")["elapsed_ms"] // 1000
    if (args.until is None) == (args.for_s is None):
        raise UsageError("give --until TIME (since the simulator started) or --for SPAN (from now, %s)"
                         % format_span(now_s))
    until_s = args.until if args.until is not None else now_s + args.for_s
    if until_s < now_s:
        raise UsageError("--until %s is before the simulator's present time (%s): use --for to move on from now"
                         % (format_span(until_s), format_span(now_s)))
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
    return reply, lambda: print("simulator at %s (%s); alarms: %s" % (format_span(until_s), devview.date(until_s),
                                                                         alarms))


def register(sub):
    sim = sub.add_parser("sim", help="serve a simulator that keeps its state (socket or pty) and its bench commands",
                         description="A served simulator keeps its state between commands: `pumpctl sim serve`, "
                                     "then every command with --port socket://127.0.0.1:PORT --dev-keys.")
    ss = sim.add_subparsers(dest="sim_command", required=True, metavar="SIM_COMMAND")

    p = ss.add_parser("serve", help="run a simulator that pumpctl attaches to with --port (until Ctrl-C)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--listen", type=argtypes.whole("TCP port", 1, 65535), metavar="PORT",
                       help="serve on TCP 127.0.0.1:PORT (default: a free port, printed)")
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (prints its /dev/pts path)")
    p.add_argument("--interp", choices=INTERPRETERS, default="micropython",
                   help="run the firmware on the MicroPython unix port (default) or CPython")
    p.add_argument("--start-ticks", type=argtypes.ticks, default=0,
                   help="start the virtual ticks_ms here, 0..2**30-1 (e.g. near the wrap)")
    p.add_argument("--no-keys", action="store_true", help="a factory-new pump: no development keys")
    p.set_defaults(func=cmd_serve)

    p = ss.add_parser("run", help="move virtual time forward: --until 2d (since the start) or --for 12h")
    add_connection(p)
    p.add_argument("--until", type=argtypes.duration(0), help="virtual time to reach, since the simulator started "
                                                              "(2d, 36h, 90s or seconds)")
    p.add_argument("--for", dest="for_s", type=argtypes.duration(0), help="a span from the present virtual time")
    p.set_defaults(func=lambda a: run_command(a, _run_body))

    p = ss.add_parser("state", help="the mock pump: pulses, fluid truly moved, reservoir, virtual time")
    add_connection(p)
    p.set_defaults(func=lambda a: run_command(a, simple("sim.state", "simulator")))

    p = ss.add_parser("fault", help="act a fault out in the mocks (the firmware must notice it)")
    add_connection(p)
    p.add_argument("fault", choices=FAULTS, help="the fault to act out; clear ends them all")
    p.set_defaults(func=lambda a: run_command(a, simple("sim.fault", "fault", lambda a: {"fault": a.fault})))

    p = ss.add_parser("fill", help="fill the mock reservoir (the syringe; `pumpctl refill` does it too on a simulator)")
    add_connection(p)
    p.add_argument("--volume-ml", type=argtypes.number("mL", 0, 100), required=True,
                   help="the mock reservoir's new content (mL)")
    p.set_defaults(func=lambda a: run_command(a, simple(
        "sim.fill", "mock reservoir", lambda a: {"volume_nl": round(a.volume_ml * 1_000_000)})))
