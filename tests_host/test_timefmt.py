import pytest
from pumpctl.timefmt import format_duration, parse_time


@pytest.mark.parametrize("text, seconds", [
    (45, 45), ("45s", 45), ("90d", 90 * 86400), ("36h", 36 * 3600), ("2d8h30m", 2 * 86400 + 8 * 3600 + 1800),
    ("1d1s", 86401), ("0s", 0),
])
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("bad", ["", "d", "1x", "1h2d", -5, True, 1.5, None, "1.5h"])
def test_parse_time_rejects(bad):
    with pytest.raises(ValueError):
        parse_time(bad)


def test_format_duration():
    assert format_duration(2 * 86400 + 8 * 3600 + 1800 + 5) == "2d 08:30:05"
