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
