"""Hazard traceability: every test id in docs/hazards.md exists, every hazard has at least one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "hazards.md"
TEST_ID = re.compile(r"^- (tests_host/[\w/]+\.py)::(test_\w+)\s*$", re.M)


def _sections():
    text = DOC.read_text()
    parts = re.split(r"^## (H\d+) ", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_hazard_from_the_domain_notes_is_traced():
    assert sorted(_sections(), key=lambda h: int(h[1:])) == ["H%d" % i for i in range(1, 8)]


def test_every_hazard_has_a_test_and_every_test_exists():
    for hazard, body in _sections().items():
        ids = TEST_ID.findall(body)
        assert ids, "%s names no test" % hazard
        for path, name in ids:
            source = ROOT / path
            assert source.exists(), "%s: %s does not exist" % (hazard, path)
            assert re.search(r"^def %s\(" % name, source.read_text(), re.M), "%s: %s::%s missing" % (
                hazard, path, name)
