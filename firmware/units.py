"""Argument parsing into integer units. The only place a JSON number becomes an int.

A JSON value like 2.4 arrives as a float (32-bit on a board); scaled_int() turns it into whole
sub-units (e.g. mcg -> ng with scale 1000) by rounding to nearest, so 3 decimals survive a 32-bit
float for the magnitudes a pump uses. Nothing past this module sees a float.
"""

from firmware.errors import E_ARG_MISSING, E_ARG_RANGE, E_ARG_TYPE, CommandError


def _number(args, key, required):
    """The JSON number at args[key] (an int or a finite float), None if absent and not required.
    Not a number (text, list, object, null, bool, NaN): E_ARG_TYPE. Infinite: E_ARG_RANGE (1e400
    anywhere, 1e39 already on a single-float board)."""
    if key not in args:
        if required:
            raise CommandError(E_ARG_MISSING, "missing argument '%s'" % key)
        return None
    value = args[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(E_ARG_TYPE, "'%s' must be a number" % key)
    if value != value:  # NaN
        raise CommandError(E_ARG_TYPE, "'%s' must be a number" % key)
    if isinstance(value, float) and value - value != 0:   # inf - inf is NaN
        raise CommandError(E_ARG_RANGE, "'%s' must be a finite number" % key)
    return value


def _range_error(key, lo, hi, scale):
    return CommandError(E_ARG_RANGE, "'%s' must be between %s and %s" % (key, fmt_scaled(lo, scale),
                                                                         fmt_scaled(hi, scale)))


def scaled_int(args, key, scale, lo, hi, required=True, default=None):
    """args[key] * scale as an int, rounded to nearest, checked lo <= result <= hi (scaled units)."""
    value = _number(args, key, required)
    if value is None:
        return default
    if isinstance(value, int):
        result = value * scale
    else:
        scaled = value * scale
        if not (lo - 1 <= scaled <= hi + 1):      # checked as a float first: int() never sees a huge one
            raise _range_error(key, lo, hi, scale)
        result = int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
    if result < lo or result > hi:
        raise _range_error(key, lo, hi, scale)
    return result


def whole_int(args, key, lo, hi, required=True, default=None):
    """An argument that must be a whole number (a fraction: E_ARG_TYPE), lo <= value <= hi
    (E_ARG_RANGE). A float is range-checked before int() and the int again, exactly: a single-float
    board rounds 1073741823.0 to 2**30, which is then refused, not taken for 2**30 - 1."""
    value = _number(args, key, required)
    if value is None:
        return default
    if not isinstance(value, int):
        if not (lo - 1 <= value <= hi + 1):
            raise _range_error(key, lo, hi, 1)
        whole = int(value)
        if value != whole:
            raise CommandError(E_ARG_TYPE, "'%s' must be a whole number" % key)
        value = whole
    if value < lo or value > hi:
        raise _range_error(key, lo, hi, 1)
    return value


def text(args, key, max_len, required=True, default=None):
    if key not in args:
        if required:
            raise CommandError(E_ARG_MISSING, "missing argument '%s'" % key)
        return default
    value = args[key]
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise CommandError(E_ARG_TYPE, "'%s' must be a text of 1..%d characters" % (key, max_len))
    return value


def fmt_scaled(value, scale, unit=""):
    """`value` sub-units shown in units of `scale` sub-units, for messages: 2400 at scale 1000 is
    "2.400", 3_000_000 is "3000" (no decimals when whole); a power of ten keeps every digit, another
    scale 3 decimals (rounded towards zero). `unit`, if given, follows after a space."""
    sign = "-" if value < 0 else ""
    value = -value if value < 0 else value
    whole = value // scale
    frac = value % scale        # // and %: no divmod (see firmware/accounting.py)
    if frac == 0:
        text = "%s%d" % (sign, whole)
    else:
        digits = len(str(scale)) - 1
        if scale != 10 ** digits:
            digits = 3
        text = "%s%d.%s" % (sign, whole, ("%0" + str(digits) + "d") % (frac * 10 ** digits // scale))
    return text + " " + unit if unit else text
