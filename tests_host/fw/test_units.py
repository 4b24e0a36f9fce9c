"""Argument parsing into integer units."""

from helpers import raises

from firmware import units
from firmware.errors import E_ARG_MISSING, E_ARG_RANGE, E_ARG_TYPE, CommandError


def test_scaled_int_rounds_decimals_exactly():
    assert units.scaled_int({"d": 2.4}, "d", 1000, 0, 10**9) == 2400
    assert units.scaled_int({"d": 1234.567}, "d", 1000, 0, 10**9) == 1234567
    assert units.scaled_int({"d": 500}, "d", 1000, 0, 10**9) == 500_000
    assert units.scaled_int({"v": 19.37}, "v", 1000, 0, 10**9) == 19370


def test_scaled_int_refuses_bad_values():
    for bad, code in (({}, E_ARG_MISSING), ({"d": "5"}, E_ARG_TYPE), ({"d": True}, E_ARG_TYPE),
                      ({"d": -1}, E_ARG_RANGE), ({"d": 1e30}, E_ARG_RANGE), ({"d": None}, E_ARG_TYPE)):
        err = raises(CommandError, units.scaled_int, bad, "d", 1000, 0, 10**9)
        assert err.code == code, (bad, err.code)


def test_whole_int_refuses_fractions():
    assert units.whole_int({"c": 2000}, "c", 1, 10**5) == 2000
    assert units.whole_int({"c": 2000.0}, "c", 1, 10**5) == 2000
    assert raises(CommandError, units.whole_int, {"c": 20.5}, "c", 1, 10**5).code == E_ARG_TYPE


def _parsed(text):
    """The value the firmware's own JSON parser makes of `text` (1e39 is infinite in a 32-bit float)."""
    import json
    return json.loads('{"v": %s}' % text)


def test_non_finite_and_huge_numbers_are_refused_never_raised():
    """Every way a JSON number can be out of range ends in E_ARG_RANGE (or E_ARG_TYPE for a fraction
    where a whole number is needed): never an OverflowError or a value past the bounds."""
    for text in ("1e400", "-1e400", "1e39", "-1e39", "1e20", "-1e20", "2147483648", "1073741824",
                 "99999999999999999999999999", "-1", "3.4e38"):
        args = _parsed(text)
        for fn, argv in ((units.whole_int, (args, "v", 0, (1 << 30) - 1)),
                         (units.whole_int, (args, "v", 1, 64)),
                         (units.scaled_int, (args, "v", 1000, 1, 100_000_000)),
                         (units.scaled_int, (args, "v", 24_000, 24_000, 240_000_000))):
            err = raises(CommandError, fn, *argv)
            assert err.code == E_ARG_RANGE, (text, err.code, err.msg)
    for text in ("1.5", "-0.5", "1e-9", "1073741823.5"):
        err = raises(CommandError, units.whole_int, _parsed(text), "v", 0, (1 << 30) - 1)
        assert err.code in (E_ARG_TYPE, E_ARG_RANGE), (text, err.code)
    for bad in ({"v": "1"}, {"v": [1]}, {"v": {}}, {"v": None}, {"v": True}, {"v": float("nan")}):
        for fn, argv in ((units.whole_int, (bad, "v", 0, 10)), (units.scaled_int, (bad, "v", 1000, 0, 10))):
            assert raises(CommandError, fn, *argv).code == E_ARG_TYPE, bad


def test_bounds_are_exact_even_for_floats_near_2_30():
    """A float that a single-float board rounds to 2**30 is refused, not accepted as 2**30 - 1."""
    top = (1 << 30) - 1
    assert units.whole_int({"v": top}, "v", 0, top) == top
    assert raises(CommandError, units.whole_int, {"v": top + 1}, "v", 0, top).code == E_ARG_RANGE
    assert raises(CommandError, units.whole_int, _parsed("1073741824.0"), "v", 0, top).code == E_ARG_RANGE
    args = _parsed("1073741823.0")      # 2**30 in a 32-bit float: refused there, exact on 64-bit floats
    if int(args["v"]) == top:
        assert units.whole_int(args, "v", 0, top) == top
    else:
        assert raises(CommandError, units.whole_int, args, "v", 0, top).code == E_ARG_RANGE


def test_fmt_scaled_shows_scaled_values_exactly():
    assert units.fmt_scaled(2400, 1000) == "2.400"
    assert units.fmt_scaled(3_000_000, 1000) == "3000"
    assert units.fmt_scaled(19_200, 1000, "mcg") == "19.200 mcg"
    assert units.fmt_scaled(5, 1000) == "0.005"
    assert units.fmt_scaled(-1500, 1000) == "-1.500"        # not floor division's -2.500
    assert units.fmt_scaled(8, 1) == "8" and units.fmt_scaled(8, 1, "x") == "8 x"
    assert units.fmt_scaled(123_456, 100_000) == "1.23456"
    assert units.fmt_scaled(240_000_000, 24_000) == "10000"
    assert units.fmt_scaled(36_000, 24_000) == "1.500"       # not a power of ten: 3 decimals
    assert units.fmt_scaled(1, 24_000) == "0.000"            # 1/24000 = 0.0000417: towards zero


def test_range_errors_name_the_bounds_in_the_argument_s_unit():
    err = raises(CommandError, units.scaled_int, {"d": 0.0004}, "d", 1000, 1, 2_500)
    assert err.msg == "'d' must be between 0.001 and 2.500"
    err = raises(CommandError, units.whole_int, {"c": 65}, "c", 1, 64)
    assert err.msg == "'c' must be between 1 and 64"
