"""What every command shares: a parser whose usage errors take one line, option types that say
in words what is wrong with a value, the one-line report of an error, and a plain text table."""

import argparse
import math
import re
import sys


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser, except that a usage error is one line on stderr,

        minifrcnn train: --minutes: must be a positive number, got 'abc' (see minifrcnn train --help)

    instead of the whole usage and then "error: argument --minutes: ...": the line that matters
    would come last, under a screenful of options. The exit status is still 2. Subcommands'
    parsers are made by the same class, so every command behaves alike.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: {re.sub(r'^argument ', '', message)} "
                     f"(see {self.prog} --help)\n")


class CommandListFormatter(argparse.HelpFormatter):
    """argparse's help layout, with every command's name and description on one line.

    argparse measures the command names without the two extra spaces it indents them by, so the
    longest ones (gradcheck, proposals) left no room for their description, which then wrapped
    onto the next line. Measuring them where they are printed fixes that.
    """

    def add_argument(self, action):
        super().add_argument(action)
        if isinstance(action.choices, dict):            # the subcommands: name -> parser
            longest = max(map(len, action.choices), default=0)
            # _action_max_length is the widest entry, which sets the description column.
            self._action_max_length = max(self._action_max_length,
                                          self._current_indent + 2 * self._indent_increment
                                          + longest)


def _value(text, convert, accept, kind):
    """text converted by `convert` (int or float) when accept(value) holds; otherwise an
    ArgumentTypeError "must be KIND, got 'TEXT'", which the parser prefixes with the option."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not accept(value):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_int(text):
    return _value(text, int, lambda v: v >= 1, "a positive integer")


def non_negative_int(text):
    return _value(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text):
    return _value(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def non_negative_float(text):
    return _value(text, float, lambda v: math.isfinite(v) and v >= 0, "a number of 0 or more")


def fraction(text):
    # NaN fails both comparisons, so it is refused too.
    return _value(text, float, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def describe(error):
    """An exception in words: an OSError as "PATH: reason", without Python's "[Errno 20]"; a
    DatasetError with a single error as that error alone, "FILE: error: what" (its message
    would spend a line announcing a list of one); anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    errors = [p for p in getattr(error, "problems", []) if p.severity == "error"]
    if len(errors) == 1:
        return str(errors[0])
    return str(error)


def fail(command, error, status=1):
    """Print "minifrcnn COMMAND: what went wrong" (error: an exception or a text) on stderr and
    return the exit status to leave with: 1 for a failure, 2 for a usage error."""
    print(f"minifrcnn {command}: {describe(error)}", file=sys.stderr)
    return status


def table(header, rows):
    """Lines of a table: left-aligned columns two spaces apart, a rule of dashes under the
    header. header: the column names; rows: tuples of cells (anything str() can show)."""
    cells = [tuple(str(cell) for cell in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    lines = [line.format(*cells[0]), line.format(*("-" * width for width in widths))]
    lines += [line.format(*row) for row in cells[1:]]
    return [text.rstrip() for text in lines]
