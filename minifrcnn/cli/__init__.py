"""The `minifrcnn` command line (also `python -m minifrcnn`).

One module per command or family of commands; each adds its subcommands to the parser
(`add_commands`) and holds the function that runs them. A command parses its options, calls the
library, prints what came back, and turns a library error into one line on stderr
(`minifrcnn COMMAND: what went wrong`). The library itself prints nothing.
"""

import os
import sys

from .. import __version__
from . import check, compress, data, demo, detect, gradcheck, info, train
from ._common import CommandListFormatter, Parser

COMMAND_MODULES = (gradcheck, info, data, train, detect, compress, demo, check)


def build_parser():
    """The parser of every command (a _common.Parser: usage errors in one line)."""
    parser = Parser(
        prog="minifrcnn",
        description="Fast R-CNN from scratch in NumPy: hand-written layers, proven by gradient "
        "checks.",
        formatter_class=CommandListFormatter,
    )
    parser.add_argument("--version", action="version", version=f"minifrcnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def main(argv=None):
    """Run the command in argv (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`minifrcnn info --json | head`): not an error worth a traceback.
        sys.stdout = open(os.devnull, "w")
        return 0
