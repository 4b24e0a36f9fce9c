"""Balance CSV files from the bench: a log of readings for the accuracy test, and weighings for
calibration. Strict: anything malformed is refused with the file's line number (docs/bench.md).

Balance log (IEC 60601-2-24 test, one reading every 30 s or so):

    # lines starting with '#' and blank lines are skipped
    time_s,mass_g,density_g_ml
    0,12.34561,0.9982
    30,12.34725,0.9982

`density_g_ml` (the density setting for the test fluid) may be left out of the header; the caller then
gives it (pumpctl --density-g-ml). It must not change within a file.

Calibration weighings (one row per calibration run):

    run,steps,mass_g
    1,2000,0.09701

`steps` and `run` may be left out (pumpctl --steps gives the steps); `density_g_ml` may be added.
"""

import csv
import math

LOG_COLUMNS = (("time_s", "mass_g"), ("density_g_ml",))            # (required, optional)
WEIGHING_COLUMNS = (("mass_g",), ("run", "steps", "density_g_ml"))
MIN_DENSITY_G_ML, MAX_DENSITY_G_ML = 0.5, 3.0


class BalanceCsvError(ValueError):
    """A malformed balance file; `line` is the 1-based line number (0: the file as a whole)."""

    def __init__(self, source, line, msg):
        self.source = source
        self.line = line
        where = "%s:%d" % (source, line) if line else source
        ValueError.__init__(self, "%s: %s" % (where, msg))


def _read(source, text, columns):
    """Yield (line number, {column: float}) for each data row, after checking the header."""
    required, optional = columns
    header = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        if header is None:
            unknown = [f for f in fields if f not in required + optional]
            missing = [c for c in required if c not in fields]
            if unknown or missing or len(set(fields)) != len(fields):
                raise BalanceCsvError(source, lineno, "bad header %r: need columns %s%s" % (
                    line[:80], ",".join(required),
                    " (optional: %s)" % ",".join(optional) if optional else ""))
            header = fields
            continue
        if len(fields) != len(header):
            raise BalanceCsvError(source, lineno, "%d fields, the header has %d" % (len(fields), len(header)))
        row = {}
        for name, field in zip(header, fields):
            try:
                value = float(field)
            except ValueError:
                raise BalanceCsvError(source, lineno, "%s is not a number: %r" % (name, field[:40]))
            if not math.isfinite(value):
                raise BalanceCsvError(source, lineno, "%s is not finite: %r" % (name, field[:40]))
            row[name] = value
        yield lineno, row
    if header is None:
        raise BalanceCsvError(source, 0, "no header line (%s)" % ",".join(required))


def _density(source, lineno, row, current):
    value = row.get("density_g_ml")
    if value is None:
        return current
    if not MIN_DENSITY_G_ML <= value <= MAX_DENSITY_G_ML:
        raise BalanceCsvError(source, lineno, "density_g_ml %g is outside %g..%g" % (
            value, MIN_DENSITY_G_ML, MAX_DENSITY_G_ML))
    if current is not None and value != current:
        raise BalanceCsvError(source, lineno, "the density setting changed from %g to %g" % (current, value))
    return value


class BalanceLog:
    """Readings of a balance under the outlet: times (s), masses (g), the density setting (g/mL or None)."""

    def __init__(self, times_s, masses_g, density_g_ml, lines, source="<balance>"):
        self.times_s = times_s
        self.masses_g = masses_g
        self.density_g_ml = density_g_ml
        self.lines = lines          # the file's line number of each reading (for messages)
        self.source = source

    def volumes_ul(self, density_g_ml=None):
        """Cumulative volume since the first reading, in uL, from the file's or the given density."""
        density = self.density_g_ml if self.density_g_ml is not None else density_g_ml
        if density is None:
            raise BalanceCsvError(self.source, 0, "no density_g_ml column: give the density setting")
        first = self.masses_g[0]
        return [(m - first) / density * 1000.0 for m in self.masses_g]


def parse_log(text, source="<balance>"):
    times, masses, lines = [], [], []
    density = None
    for lineno, row in _read(source, text, LOG_COLUMNS):
        if row["time_s"] < 0:
            raise BalanceCsvError(source, lineno, "time_s is negative")
        if times and row["time_s"] <= times[-1]:
            raise BalanceCsvError(source, lineno, "time_s %g does not come after %g" % (row["time_s"], times[-1]))
        density = _density(source, lineno, row, density)
        times.append(row["time_s"])
        masses.append(row["mass_g"])
        lines.append(lineno)
    if len(times) < 2:
        raise BalanceCsvError(source, 0, "at least two readings are needed, found %d" % len(times))
    return BalanceLog(times, masses, density, lines, source)


class Weighing:
    def __init__(self, run, steps, mass_g, density_g_ml, line):
        self.run = run
        self.steps = steps
        self.mass_g = mass_g
        self.density_g_ml = density_g_ml
        self.line = line


def parse_weighings(text, source="<weighings>"):
    """Calibration weighings: a list of Weighing (steps and density may be None: the caller supplies them)."""
    out = []
    density = None
    for lineno, row in _read(source, text, WEIGHING_COLUMNS):
        if row["mass_g"] <= 0:
            raise BalanceCsvError(source, lineno, "mass_g must be above 0")
        steps = row.get("steps")
        if steps is not None and (steps != int(steps) or steps < 1):
            raise BalanceCsvError(source, lineno, "steps must be a whole number above 0")
        run = row.get("run", len(out) + 1)
        if run != int(run):
            raise BalanceCsvError(source, lineno, "run must be a whole number")
        density = _density(source, lineno, row, density)
        out.append(Weighing(int(run), int(steps) if steps is not None else None, row["mass_g"], density, lineno))
    if not out:
        raise BalanceCsvError(source, 0, "no weighings")
    return out


def _load(path, parser):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise BalanceCsvError(str(path), 0, "cannot read: %s" % exc.strerror)
    except UnicodeDecodeError:
        raise BalanceCsvError(str(path), 0, "not a UTF-8 text file")
    return parser(text, str(path))


def load_log(path):
    return _load(path, parse_log)


def load_weighings(path):
    return _load(path, parse_weighings)


def format_log(times_s, masses_g, density_g_ml=None):
    """Write readings in the log format (used by tests and by `pumpctl accuracy --sim --csv-out`)."""
    lines = ["time_s,mass_g" + (",density_g_ml" if density_g_ml is not None else "")]
    for t, m in zip(times_s, masses_g):
        lines.append("%g,%.6f" % (t, m) + (",%g" % density_g_ml if density_g_ml is not None else ""))
    return "\n".join(lines) + "\n"
