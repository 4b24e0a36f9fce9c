"""pumpctl: the host CLI for the pump. Each group of subcommands lives in its own module with a
`register(subparsers)` function; add a module to SUBCOMMAND_MODULES to add commands.

Exit codes: 0 done, 2 invalid input (e.g. a scenario; the message names the place), 1 the operation failed.
"""

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "pumpctl.cli_run",
    "pumpctl.cli_bench",
    "pumpctl.cli_device",
)


def build_parser():
    parser = argparse.ArgumentParser(prog="pumpctl", description="Host CLI for the micro-dosing pump.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
