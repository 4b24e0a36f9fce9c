"""The pictures in docs/img/ are what `make bench-img` draws from today's firmware and plotting code:
docs/img/images.json records a hash of every input and of each PNG when the make target runs
(pumpctl.docimages). Nothing is run here: a stale picture is named with the command that fixes it."""

import json
import shutil

import pytest
from pumpctl import REPO_ROOT, docimages


def test_docs_images_are_fresh():
    assert docimages.stale() == []


def test_every_image_the_docs_show_is_made_by_the_make_target():
    shown = set()
    for doc in ("README.md", "docs/bench.md"):
        text = (REPO_ROOT / doc).read_text()
        shown.update("docs/img/" + part.split(")")[0] for part in text.split("img/")[1:] if ".png)" in part)
    assert shown <= set(docimages.IMAGES), shown - set(docimages.IMAGES)
    assert "docimages record" in (REPO_ROOT / "mk" / "bench.mk").read_text()


@pytest.fixture
def tree(tmp_path):
    """A copy of the inputs and the recorded pictures, to change without touching the work tree."""
    for image, (_, globs) in docimages.IMAGES.items():
        for path in docimages.input_files(globs) + [REPO_ROOT / image]:
            dest = tmp_path / path.relative_to(REPO_ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    docimages.record(tmp_path)
    return tmp_path


def test_a_changed_input_or_png_makes_the_picture_stale(tree):
    assert docimages.stale(tree) == []
    guard = tree / "firmware" / "guard.py"
    guard.write_text(guard.read_text() + "\n# a change to the firmware\n")
    names = sorted(image for image, _ in docimages.stale(tree))
    assert names == sorted(docimages.IMAGES)             # both pictures run the firmware
    docimages.record(tree)
    scenario = tree / "scenarios" / "longrun_7y_baclofen.json"
    data = json.loads(scenario.read_text())
    data["until"] = "1d"
    scenario.write_text(json.dumps(data))
    assert [image for image, _ in docimages.stale(tree)] == ["docs/img/timeline_7y_baclofen.png"]
    docimages.record(tree)
    png = tree / "docs" / "img" / "trumpet_sim_3pct_low.png"
    png.write_bytes(png.read_bytes() + b"\0")
    stale = docimages.stale(tree)
    assert [image for image, _ in stale] == ["docs/img/trumpet_sim_3pct_low.png"] and "by hand" in stale[0][1]
