"""The pictures in docs/img/ and what they are made from: `make bench-img` regenerates them and then
records, in docs/img/images.json, a SHA-256 of every input file (the firmware, the simulator board
and mocks, the plotting code, the scenario) and of each PNG. tests_host/test_docs_images.py checks
both without running anything: a picture whose inputs changed since it was drawn is stale (the
firmware no longer does what it shows), and a PNG that is not the one recorded was not made by the
make target.

    python -m pumpctl.docimages record     # after the images are drawn (make bench-img does it)
    python -m pumpctl.docimages check      # exit 1 and name the stale images
"""

import hashlib
import json
import sys

from pumpctl import REPO_ROOT

MANIFEST = "docs/img/images.json"
SIM = ("firmware/*.py", "hal/*.py", "hal/mock/*.py", "boards/*.py", "boards/sim/*.py")

# image -> (the make target's command, input globs relative to the repository)
IMAGES = {
    "docs/img/trumpet_sim_3pct_low.png": (
        "pumpctl accuracy --sim --true-nl-per-step 48.5 --png docs/img/trumpet_sim_3pct_low.png",
        SIM + ("tools/pumpctl/accuracy.py", "tools/pumpctl/plots.py", "tools/pumpctl/cli_bench.py")),
    "docs/img/timeline_7y_baclofen.png": (
        "pumpctl report scenarios/longrun_7y_baclofen.json --out build/longrun/longrun_7y_baclofen",
        SIM + ("tools/pumpctl/runner.py", "tools/pumpctl/mdreport.py", "tools/pumpctl/plots.py",
               "tools/pumpctl/catheter.py", "tools/pumpctl/scenario.py", "scenarios/longrun_7y_baclofen.json")),
    # a browser screenshot of pumpctl ui (make ui-img: headless Chromium in tests_host/test_ui_browser.py)
    "docs/img/ui_dashboard.png": (
        "make ui-img",
        SIM + ("tools/pumpctl/ui/*.py", "tools/pumpctl/ui/static/*", "tests_host/test_ui_browser.py")),
}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_files(globs, root=REPO_ROOT):
    files = set()
    for pattern in globs:
        files.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(files)


def inputs_digest(globs, root=REPO_ROOT):
    """One SHA-256 over the relative path and content of every input file (sorted)."""
    h = hashlib.sha256()
    for path in input_files(globs, root):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def record(root=REPO_ROOT):
    entries = {}
    for image, (command, globs) in IMAGES.items():
        entries[image] = {"command": command, "inputs": list(globs), "inputs_sha256": inputs_digest(globs, root),
                          "png_sha256": _sha(root / image)}
    (root / MANIFEST).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries


def stale(root=REPO_ROOT):
    """[(image, why)] for every picture that is not what the make target would draw today."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return [(MANIFEST, "missing or not JSON: run `make bench-img`")]
    out = []
    for image, (_, globs) in IMAGES.items():
        entry = manifest.get(image)
        if entry is None:
            out.append((image, "not in %s: run `make bench-img`" % MANIFEST))
            continue
        if not (root / image).exists() or _sha(root / image) != entry["png_sha256"]:
            out.append((image, "is not the PNG `make bench-img` drew (changed by hand?): run `make bench-img`"))
        elif inputs_digest(globs, root) != entry["inputs_sha256"]:
            out.append((image, "its inputs changed since it was drawn (%s): run `make bench-img`"
                        % ", ".join(entry["inputs"])))
    return out


def main(argv):
    if argv[1:] == ["record"]:
        for image in record():
            print("recorded %s" % image)
        return 0
    if argv[1:] == ["check"]:
        problems = stale()
        for image, why in problems:
            print("%s %s" % (image, why))
        return 1 if problems else 0
    sys.stderr.write("usage: python -m pumpctl.docimages record|check\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
