"""Host tools for the pump: CLI (`pumpctl`), simulator launcher and scenario runner."""

from pathlib import Path

__version__ = "0.2.0"


def _find_root():
    """The folder that holds firmware/, hal/ and boards/: the source tree (a clone, or an editable
    install), else the copy a wheel installs inside this package (pumpctl/sim_root)."""
    here = Path(__file__).resolve().parent
    for root in (here.parents[1], here / "sim_root"):
        if (root / "boards" / "sim" / "main.py").exists():
            return root
    return here.parents[1]


REPO_ROOT = _find_root()
