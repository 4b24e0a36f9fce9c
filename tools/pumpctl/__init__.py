"""Host tools for the pump: CLI (`pumpctl`), simulator launcher and scenario runner."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
