"""Scenario time syntax: an integer number of seconds, or a string like "90d", "36h", "2d8h30m", "45s"."""

import re

_PATTERN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_time(value):
    """Seconds as an int. Raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError("a time must be seconds or a string like '2d8h30m', not %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a time cannot be negative: %d" % value)
        return value
    if isinstance(value, str):
        match = _PATTERN.match(value.strip())
        if match and any(match.groups()):
            d, h, m, s = (int(g) if g else 0 for g in match.groups())
            return ((d * 24 + h) * 60 + m) * 60 + s
    raise ValueError("bad time %r: use seconds or a string like '90d', '36h', '2d8h30m', '45s'" % (value,))


def format_span(seconds):
    """Seconds in the time syntax, for people: '1h30m', '2d', '45s', '3d4h0m5s' -> '3d4h5s'; '0s'."""
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = ["%d%s" % (n, u) for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return sign + ("".join(parts) or "0s")


def format_duration(seconds):
    """Seconds as 'Nd HH:MM:SS' for people."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return "%dd %02d:%02d:%02d" % (days, hours, minutes, secs)
