"""The firmware's dependency rule (README "Architecture"), checked on the source with `ast`.

Layers, lowest first; a module may import only from its own layer or below:
  leaves     components and codecs that own their state and know no pump
  step       firmware/delivery.py: the step path
  supervise  firmware/supervisor.py: monitors and the guard -> alarms and stops
  persist    firmware/store.py, firmware/boot.py: persistence composed into the Pump
  control    firmware/control.py: the narrow surface command handlers get
  handlers   command modules, loaded on demand by name (never imported statically)
  top        firmware/protocol.py, firmware/serve.py (serves a line), firmware/app.py
And: nothing below control takes a `pump`; handlers assign no field of what the Control hands them;
no firmware module reads another object's private attribute; firmware never imports boards/ or tools/;
code loaded on demand (firmware/lazy.py ON_DEMAND) is imported by name only, never by resident code.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW = os.path.join(ROOT, "firmware")

LAYERS = (
    ("leaves", {"errors", "units", "limits", "druglib", "roles", "hmac_sha256", "record", "timebase", "tones",
                "planner", "therapy", "accounting", "bolus", "demand", "guard", "monitors", "eventlog", "logstore",
                "framing", "calibration", "ratelog", "alarms", "forecast", "persist", "authstore", "auth", "gate",
                "stops", "config", "params", "lazy"}),
    ("step", {"delivery"}),
    ("supervise", {"supervisor"}),
    ("persist", {"store", "boot"}),
    ("control", {"control"}),
    ("handlers", {"commands", "cmd_therapy", "cmd_setup", "cmd_keys", "cmd_log"}),
    ("top", {"protocol", "serve", "app"}),
)
HANDLERS = LAYERS[5][1]
# the HAL's resident part (hal/interfaces.py: counter arithmetic, Hardware) is shared; its contracts
# (hal/contracts.py) are host side, its drivers and mocks are handed in: never imported
ALLOWED_OUTSIDE = {"micropython", "json", "struct", "hashlib", "sys", "gc", "binascii", "hal.interfaces"}


def _modules():
    names = sorted(f[:-3] for f in os.listdir(FW) if f.endswith(".py") and f != "__init__.py")
    return {name: ast.parse(open(os.path.join(FW, name + ".py")).read(), name) for name in names}


def _layer(name):
    for i, (_, members) in enumerate(LAYERS):
        if name in members:
            return i
    raise AssertionError("firmware/%s.py belongs to no layer: add it to LAYERS in %s" % (name, __file__))


def _imports(tree):
    """Firmware modules and outside packages a module imports: ({firmware names}, {outside names})."""
    fw, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "firmware" and len(parts) > 1:
                    fw.add(parts[1])
                else:
                    outside.add(alias.name if parts[0] == "hal" else parts[0])
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if parts[0] == "firmware":
                if len(parts) > 1:
                    fw.add(parts[1])
                else:
                    fw.update(alias.name for alias in node.names)
            else:
                outside.add(node.module if parts[0] == "hal" else parts[0])
    fw.discard("VERSION")
    return fw, outside


def test_every_firmware_module_imports_only_its_layer_or_below():
    bad = []
    for name, tree in _modules().items():
        fw, outside = _imports(tree)
        for dep in fw:
            if dep in HANDLERS:
                bad.append("%s imports handler module %s statically (handlers are loaded by name)" % (name, dep))
            elif _layer(dep) > _layer(name):
                bad.append("%s (%s) imports %s (%s)" % (name, LAYERS[_layer(name)][0], dep, LAYERS[_layer(dep)][0]))
        for dep in outside - ALLOWED_OUTSIDE:
            bad.append("%s imports %s (firmware reaches hardware only through the HAL objects it is handed)"
                       % (name, dep))
    assert bad == []


def test_the_rule_would_catch_an_upward_import():
    tree = ast.parse("from firmware.app import Pump\nfrom firmware import cmd_setup\nimport machine\n")
    fw, outside = _imports(tree)
    assert fw == {"app", "cmd_setup"} and outside == {"machine"}
    assert _layer("app") > _layer("accounting")


def test_nothing_below_the_control_surface_takes_a_pump():
    control = _layer("control")
    bad = []
    for name, tree in _modules().items():
        if _layer(name) >= control and name not in HANDLERS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                for arg in node.args.args:
                    if arg.arg == "pump":
                        bad.append("%s: %s(pump, ...)" % (name, getattr(node, "name", "lambda")))
    assert bad == []


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _assigned_attributes(tree):
    """(line, ast.Attribute) of every attribute an assignment in `tree` writes (tuples unpacked)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, ast.Attribute):
                    yield node.lineno, t


def test_handlers_assign_no_field_of_the_pump():
    bad = []
    for name, tree in _modules().items():
        if name in HANDLERS:
            bad.extend("%s line %d: assigns .%s" % (name, line, t.attr)
                       for line, t in _assigned_attributes(tree) if _root(t) == "ctl")
    assert bad == []


def test_no_firmware_module_reads_another_objects_private_state():
    bad = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                    continue
                bad.append("%s line %d: .%s" % (name, node.lineno, node.attr))
    assert bad == []


def test_every_handler_in_the_command_table_exists():
    import importlib
    import sys
    sys.path.insert(0, os.path.join(ROOT, "hal", "cpython"))
    sys.path.insert(0, ROOT)
    serve = importlib.import_module("firmware.serve")
    entries = set(serve._HANDLERS.values()) | {serve._BENCH}
    for module, function in sorted(entries):
        assert module in HANDLERS, module
        assert callable(getattr(importlib.import_module("firmware." + module), function)), (module, function)
    assert {m for m, _ in entries} == HANDLERS


def test_no_resident_module_imports_an_on_demand_module():
    """Code loaded for one job (firmware/lazy.py ON_DEMAND: the serving of a line, the Control, the
    handlers, the boot's recovery, ...) comes in through lazy.module() by name. An import of it in
    code the pump keeps (the rest of the firmware, boards/) would keep it in RAM for good, which a
    test run cannot see: its modules are imported once per process (tests_host/fw/test_lazy.py)."""
    import importlib
    import sys
    sys.path.insert(0, os.path.join(ROOT, "hal", "cpython"))
    sys.path.insert(0, ROOT)
    on_demand = set(importlib.import_module("firmware.lazy").ON_DEMAND)
    assert {"serve", "control", "commands", "boot"} <= on_demand
    trees = {"firmware/%s.py" % name: tree for name, tree in _modules().items() if name not in on_demand}
    for folder, _, files in os.walk(os.path.join(ROOT, "boards")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                trees[os.path.relpath(path, ROOT)] = ast.parse(open(path).read(), path)
    bad = sorted("%s imports %s" % (path, sorted(_imports(tree)[0] & on_demand))
                 for path, tree in trees.items() if _imports(tree)[0] & on_demand)
    assert bad == []


WIRING = {"listener", "on_store_error", "store", "after_step", "on_shutdown", "control"}   # hooks the builder sets
RECORDS = {"config", "cfg", "_config"}    # Config: a plain record of settings, set by name


def test_no_firmware_module_writes_another_objects_field():
    """Components own their state: others call their methods. Exceptions, by name: the hooks the
    Pump wires at construction (app.py, boot.py) and the Config record."""
    bad = []
    for name, tree in _modules().items():
        for line, t in _assigned_attributes(tree):
            if isinstance(t.value, ast.Name) and t.value.id == "self":
                continue
            base = t.value.attr if isinstance(t.value, ast.Attribute) else getattr(t.value, "id", None)
            if base in RECORDS or (name in ("app", "boot") and t.attr in WIRING):
                continue
            bad.append("%s line %d: assigns .%s" % (name, line, t.attr))
    assert bad == []


def test_the_field_rules_would_catch_a_write():
    tree = ast.parse("ctl.acct.drug = None\nother.mode, self.ok = 1, 2\n")
    found = [(line, t.attr, _root(t)) for line, t in _assigned_attributes(tree)]
    assert found == [(1, "drug", "ctl"), (2, "mode", "other"), (2, "ok", "self")]
