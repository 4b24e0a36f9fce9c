"""Command-line value types: every number, duration and output path is checked while the command line
is parsed, before anything runs, and a bad value is refused in one line that names the flag, the unit
and what was typed (argparse prefixes "argument --FLAG:"):

    pumpctl accuracy: argument --rate-ul-h: must be a number above 0 (uL/h), not 'nan'
"""

import argparse
import math
import os

from pumpctl.timefmt import parse_time

TICKS_MAX = (1 << 30) - 1       # the virtual ticks_ms of the simulator wrap at 2**30, like a board


def _fail(message, text):
    raise argparse.ArgumentTypeError("%s, not %r" % (message, text))


def _n(x):
    return "%d" % x if float(x).is_integer() else "%g" % x


def _range_words(lo, hi, lo_open, unit):
    unit_text = " %s" % unit if unit else ""
    if lo is not None and hi is not None:
        if lo_open:
            return "above %s and at most %s%s" % (_n(lo), _n(hi), unit_text)
        return "from %s to %s%s" % (_n(lo), _n(hi), unit_text)
    if lo is not None:
        return "%s %s%s" % ("above" if lo_open else "of at least", _n(lo), unit_text)
    if hi is not None:
        return "of at most %s%s" % (_n(hi), unit_text)
    return unit_text.strip()


def _bad_path(text, why):
    raise argparse.ArgumentTypeError("%r: %s" % (text, why))


def number(unit, lo=None, hi=None, lo_open=False):
    """A finite number within [lo, hi] (lo excluded with lo_open), in `unit` (named in the error)."""
    def parse(text):
        words = "must be a number %s" % _range_words(lo, hi, lo_open, unit)
        try:
            value = float(text)
        except ValueError:
            _fail(words.rstrip(), text)
        if not math.isfinite(value) or (lo is not None and (value < lo or (lo_open and value == lo))) \
                or (hi is not None and value > hi):
            _fail(words.rstrip(), text)
        return value
    parse.__name__ = "number"
    return parse


def whole(unit, lo=None, hi=None):
    """A whole number within [lo, hi] in `unit`."""
    def parse(text):
        words = "must be a whole number %s" % _range_words(lo, hi, False, unit)
        try:
            value = int(text, 10)
        except ValueError:
            _fail(words.rstrip(), text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            _fail(words.rstrip(), text)
        return value
    parse.__name__ = "whole"
    return parse


def duration(lo_s=0, hi_s=None):
    """A duration or a time in the scenario syntax ('90s', '1h30m', '2d', or whole seconds); seconds."""
    def parse(text):
        try:
            value = parse_time(int(text) if text.strip().isdigit() else text)
        except ValueError:
            _fail("must be a time like 90s, 45m, 1h30m, 2d or whole seconds", text)
        if value < lo_s or (hi_s is not None and value > hi_s):
            _fail("must be %s" % _span_words(lo_s, hi_s), text)
        return value
    parse.__name__ = "duration"
    return parse


def _span_words(lo_s, hi_s):
    from pumpctl.timefmt import format_span
    if hi_s is None:
        return "at least %s" % format_span(lo_s)
    return "from %s to %s" % (format_span(lo_s), format_span(hi_s))


def ticks(text):
    """The virtual ticks_ms the simulator starts at: 0 .. 2**30 - 1 (the wrap)."""
    return whole("ms of the virtual clock, which wraps at 2**30", 0, TICKS_MAX)(text)


def output_file(text):
    """A file this command will write: its folder must exist and be writable; it must not be a folder."""
    path = os.path.abspath(text)
    if os.path.isdir(path):
        _bad_path(text, "is a folder: give a file name")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        _bad_path(text, "the folder %s does not exist" % folder)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        _bad_path(text, "exists and cannot be written (permissions)")
    if not os.path.exists(path) and not os.access(folder, os.W_OK | os.X_OK):
        _bad_path(text, "cannot write in %s (permissions)" % folder)
    return text


def output_dir(text):
    """A folder this command will write into (made if missing): not a file; its nearest existing
    ancestor must be a writable folder."""
    path = os.path.abspath(text)
    if os.path.exists(path):
        if not os.path.isdir(path):
            _bad_path(text, "is a file: give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            _bad_path(text, "is a folder that cannot be written (permissions)")
        return text
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        _bad_path(text, "%s is a file, not a folder" % parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        _bad_path(text, "cannot make it in %s (permissions)" % parent)
    return text


def input_file(text):
    """A file this command reads: it must exist and be readable."""
    if os.path.isdir(text):
        _bad_path(text, "is a folder: give a file")
    if not os.path.exists(text):
        _bad_path(text, "no such file")
    if not os.access(text, os.R_OK):
        _bad_path(text, "cannot be read (permissions)")
    return text
