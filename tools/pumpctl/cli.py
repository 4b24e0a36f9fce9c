"""pumpctl: the host CLI for the pump. Each group of subcommands lives in its own module with a
`register(subparsers)` function, listed once in SUBCOMMAND_MODULES (none registers another; what the
device commands share is pumpctl.devcmd); add a module there to add commands.

Exit codes (the same for every subcommand, listed in `pumpctl --help`):
  0    done
  1    the operation failed: the pump refused, the link or the simulator failed, a run failed
  2    invalid input: an option, a scenario, a CSV, a key file; the one-line message names what to fix
  130  interrupted (Ctrl-C)
Errors are one line on stderr, `pumpctl: ...`. PUMPCTL_TRACEBACK=1 shows the traceback of an
unexpected error (a bug in pumpctl) instead of its one-line summary.
"""

import argparse
import importlib
import os
import sys

from pumpctl import __version__

SUBCOMMAND_MODULES = (
    "pumpctl.cli_run",
    "pumpctl.cli_bench",
    "pumpctl.cli_device",
    "pumpctl.cli_keys",
    "pumpctl.cli_sim",
    "pumpctl.cli_ports",
    "pumpctl.ui.cli",
)

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """exit codes: 0 done; 1 the operation failed (the pump refused, the link or the simulator failed);
2 invalid input (the message names the option, the scenario action or the file line); 130 interrupted.

a simulator session (state kept between commands):
  pumpctl sim serve &                        # prints socket://127.0.0.1:PORT
  export PUMPCTL_PORT=socket://127.0.0.1:PORT PUMPCTL_DEV_KEYS=1
  pumpctl refill --drug baclofen --conc-mcg-ml 2000 --volume-ml 20
  pumpctl program continuous --dose-mcg-day 500 --yes
  pumpctl sim run --until 7d && pumpctl status"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `pumpctl accuracy: argument --rate-ul-h: ... (see ... --help)`."""

    def error(self, message):
        self.exit(EXIT_INVALID, "%s: %s (see '%s --help')\n" % (self.prog, message, self.prog))


def build_parser():
    parser = Parser(prog="pumpctl", description="Host CLI for the micro-dosing pump: a board (--port), "
                    "the simulator (--sim, or a served one), scenarios, bench tests.", epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="pumpctl %s" % __version__,
                        help="print pumpctl's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _say(message):
    sys.stderr.write("pumpctl: %s\n" % message)


def main(argv=None):
    """Run one command; every error ends in one line on stderr and a documented exit code."""
    from pumpctl.devcmd import Refused, UsageError
    from pumpctl.link import LinkError
    from pumpctl.scenario import ScenarioError
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except (UsageError, ScenarioError) as exc:
        _say(str(exc))
        return EXIT_INVALID
    except (Refused, LinkError) as exc:
        _say(str(exc))
        return EXIT_FAILED
    except BrokenPipeError:
        # stdout closed early (e.g. `pumpctl log | head`): nothing more to say to anyone
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILED
    except OSError as exc:
        where = " %s" % exc.filename if getattr(exc, "filename", None) else ""
        _say("cannot use%s: %s" % (where, exc.strerror or exc))
        return EXIT_FAILED
    except Exception as exc:           # a bug in pumpctl: still one line, unless asked for the traceback
        if os.environ.get("PUMPCTL_TRACEBACK"):
            raise
        _say("internal error: %s: %s (a bug in pumpctl; PUMPCTL_TRACEBACK=1 shows where)"
             % (type(exc).__name__, exc))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
