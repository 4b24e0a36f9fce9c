"""The PNGs are real pictures: valid PNG structure (signature, IHDR with its CRC), a sensible size,
and the drawn curves and event markers are there in their colours."""

import struct
import zlib

import pytest
from PIL import Image
from pumpctl import accuracy, plots

RED, BLUE, GREEN, ORANGE = (214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14)   # tab: colours


def read_ihdr(path):
    """Check the PNG signature and IHDR chunk by hand; return (width, height, bit depth, colour type)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, "IHDR CRC mismatch"
    width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND chunk at the end"
    return width, height, depth, colour, len(data)


def colour_share(path, rgb, tol=20):
    raw = Image.open(path).convert("RGB").tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    near = sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))
    return near / len(pixels)


def ink_share(path):
    pixels = Image.open(path).convert("L").tobytes()
    return sum(1 for p in pixels if p < 200) / len(pixels)


@pytest.fixture(scope="module")
def sim_result():
    return accuracy.sim_accuracy(accuracy.open_sim("inprocess", true_pl_per_step=48_500), 20.0)


def test_trumpet_png(tmp_path, sim_result):
    path = plots.plot_trumpet(sim_result, tmp_path / "trumpet.png", title="test")
    width, height, depth, colour, size = read_ihdr(path)
    assert (width, height) == (1100, 450) and depth == 8 and colour in (2, 6)
    assert 20_000 < size < 1_000_000
    assert plots.png_size(path) == (width, height)
    Image.open(path).verify()
    assert colour_share(path, RED) > 0.001 and colour_share(path, BLUE) > 0.01   # max curve, flow trace
    assert 0.02 < ink_share(path) < 0.6


def _samples(days):
    out = []
    for day in range(days + 1):
        delivered = day * 250_000_000                # 250 uL/day in pL
        reservoir = 20_000_000_000 - (delivered % 15_000_000_000)
        out.append({"t_s": day * 86400, "delivered_pl": delivered, "delivered_pg": delivered * 2,
                    "reservoir_pl": reservoir, "mock_moved_pl": delivered * 97 // 100,
                    "mock_reservoir_pl": reservoir + 1_000_000_000})
    return out


EVENTS = [
    {"t_s": 0, "type": "program", "data": {"new": {"mode": "continuous", "dose_ng_day": 500_000}}},
    {"t_s": 60 * 86400, "type": "refill", "data": {"drug": "baclofen"}},
    {"t_s": 30 * 86400, "type": "bolus_start", "data": {"kind": "bolus"}},
    {"t_s": 32 * 86400, "type": "bolus_end", "data": {"kind": "bolus"}},
    {"t_s": 55 * 86400, "type": "alarm_raise", "data": {"code": "LOW_RESERVOIR", "tier": "non-critical"}},
    {"t_s": 70 * 86400, "type": "warning", "data": {"code": "TUBING_SERVICE"}},
]


def test_timeline_png_marks_events(tmp_path):
    marked = plots.plot_timeline(_samples(90), EVENTS, tmp_path / "timeline.png", title="90 days")
    plain = plots.plot_timeline(_samples(90), [], tmp_path / "plain.png")
    for path in (marked, plain):
        width, height, depth, colour, size = read_ihdr(path)
        assert (width, height) == (1300, 900) and 20_000 < size < 2_000_000
        assert 0.01 < ink_share(path) < 0.6
    assert colour_share(marked, GREEN) > 0.0003 and colour_share(plain, GREEN) == 0   # the refill line
    assert colour_share(marked, RED) > 0.0003 and colour_share(plain, RED) == 0       # the alarm
    assert colour_share(marked, ORANGE, tol=40) > colour_share(plain, ORANGE, tol=40)  # the bolus span


def test_daily_dose_from_samples():
    dose = plots.daily_dose_mcg(_samples(3))
    assert dose == [(86400, 500.0), (172800, 500.0), (259200, 500.0)]     # 250 uL/day at 2000 mcg/mL


def test_png_size_refuses_other_files(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(ValueError):
        plots.png_size(path)


DAY = 86400


def test_programmed_profile_is_the_programme_not_a_daily_average():
    # t=0 is a Monday 00:00; a week-cycle flex programme from day 21 (a Monday): 500 on weekdays,
    # 650 from Saturday 00:00; stopped at day 35
    flex = {"mode": "flex", "cycle": "week", "steps": [{"start_s": 0, "dose_ng_day": 500_000},
                                                       {"start_s": 5 * DAY, "dose_ng_day": 650_000}]}
    events = [{"t_s": 0, "type": "program", "data": {"new": {"mode": "continuous", "dose_ng_day": 400_000}}},
              {"t_s": 21 * DAY, "type": "program", "data": {"new": flex}},
              {"t_s": 35 * DAY, "type": "program", "data": {"new": {"mode": "stopped"}}}]
    profile = plots.programmed_profile(events, [], 40 * DAY)
    assert profile == [(0, 0.0), (0, 400.0), (21 * DAY, 500.0), (26 * DAY, 650.0), (28 * DAY, 500.0),
                       (33 * DAY, 650.0), (35 * DAY, 0.0), (40 * DAY, 0.0)]
    # a flex programme that starts mid-cycle begins with the step in force then (Wednesday: 500),
    # and a day cycle starting before its first step runs the cycle's last step
    mid = plots.programmed_profile([{"t_s": 23 * DAY, "type": "program", "data": {"new": flex}}], [], 26 * DAY + 1)
    assert mid[1:3] == [(23 * DAY, 500.0), (26 * DAY, 650.0)]
    day = {"mode": "flex", "cycle": "day", "steps": [{"start_s": 8 * 3600, "dose_ng_day": 600_000},
                                                     {"start_s": 20 * 3600, "dose_ng_day": 300_000}]}
    pts = plots.programmed_profile([{"t_s": 3600, "type": "program", "data": {"new": day}}], [], DAY)
    assert pts[1:4] == [(3600, 300.0), (8 * 3600, 600.0), (20 * 3600, 300.0)]


def test_dose_axis_leaves_headroom_and_ignores_a_prime_spike():
    profile = [(0, 0.0), (0, 500.0), (10 * DAY, 500.0)]
    outlet = [(3600, 48_000.0), (DAY, 480.0), (2 * DAY, 520.0)]          # a prime in the first hour
    assert plots.dose_axis_top(profile, outlet, []) == 520.0 * 1.25
    assert plots.dose_axis_top(profile, [], []) == 500.0 * 1.25


def test_bolus_spans_with_their_rate_on_top():
    events = [{"t_s": 100, "type": "bolus_start", "data": {"kind": "bolus", "dose_ng": 30_000, "duration_s": 7200}},
              {"t_s": 7300, "type": "bolus_end", "data": {"kind": "bolus"}},
              {"t_s": 9000, "type": "bolus_start", "data": {"kind": "calibration", "dose_ng": 0, "duration_s": 60}},
              {"t_s": 9060, "type": "bolus_end", "data": {"kind": "calibration"}}]
    assert plots.bolus_spans(events) == [(100, 7300, "bolus", 30 * DAY / 7200)]     # 360 mcg/day on top


def test_timeline_legends_beside_the_panels_and_the_threshold_drawn(tmp_path):
    samples = _samples(90)
    for sm in samples:
        sm["low_reservoir_pl"] = 2_000_000_000
        sm["tip_pg"] = max(0, sm["delivered_pg"] - 400_000_000)
    path = plots.plot_timeline(samples, EVENTS, tmp_path / "t.png", title="t", subtitle="realism")
    img = Image.open(path).convert("L")
    width, height = img.size
    legend_strip = img.crop((int(width * 0.80), 0, width, height))
    assert sum(1 for p in legend_strip.tobytes() if p < 128) > 2000     # the legends' text, right of the plots
    bare = plots.plot_timeline(_samples(90), EVENTS, tmp_path / "bare.png")
    assert colour_share(path, RED) > colour_share(bare, RED)            # the dotted threshold line
    olive = (188, 189, 34)                                               # the catheter tip's curve
    assert colour_share(path, olive, tol=40) > 0.0002 and colour_share(bare, olive, tol=40) == 0


def test_years_of_a_flex_day_are_drawn_as_its_range_and_mean():
    day_night = {"mode": "flex", "cycle": "day", "steps": [{"start_s": 0, "dose_ng_day": 500_000},
                                                           {"start_s": 18 * 3600, "dose_ng_day": 800_000}]}
    until = 3 * 365 * DAY
    profile = plots.programmed_profile([{"t_s": 0, "type": "program", "data": {"new": day_night}}], [], until)
    assert len(profile) > 2 * 3 * 365                                  # every step of every day
    bins = plots.binned_profile(profile, until)
    assert len(bins) == 600 and all(lo == 500 and hi == 800 for _, lo, hi, _ in bins)
    # a bin is 3 * 365 / 600 = 1.825 days = 43.8 h: one whole day (6 h at 800) and 19.8 h holding 1.8 to
    # 6 h more at 800, so a bin's mean lies between 500 + 300 * 7.8 / 43.8 and 500 + 300 * 12 / 43.8;
    # over the run 18 h at 500 and 6 h at 800 a day: 575
    means = [mean for _, _, _, mean in bins]
    assert 500 + 300 * 7.8 / 43.8 - 1e-6 <= min(means) and max(means) <= 500 + 300 * 12 / 43.8 + 1e-6
    assert sum(means) / len(means) == pytest.approx(575, abs=0.5)
