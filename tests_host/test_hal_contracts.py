"""Every HAL driver (hal/mcu) and every host mock (hal/mock) honours its contract (hal/contracts.py).

The contracts are host side: a board never loads them (a class there would hold its heap for good), so
the drivers subclass nothing and a driver missing a method would fail only when the firmware calls it,
on the board. This check makes that failure loud at test time instead: each driver and mock class,
read with `ast` (the drivers import `machine`), defines every method of its contract with the same
positional parameters, in order. A mock subclasses its contract and may inherit a method the contract
implements (Clock.ticks_add/ticks_diff, SerialLink.write_json); a driver, which subclasses nothing,
must define those too. And hal/contracts.py is never deployed to a board nor imported by what is.
"""

import ast
import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACTS = "hal/contracts.py"
BOARDS = ("pico", "esp32")

# file -> {class: the contract it honours}. Every class of hal/mcu and hal/mock is named here or in
# NOT_HAL, so a new driver or mock cannot go unchecked.
DRIVERS = {
    "hal/mcu/analog.py": {"ScaledAdc": "AnalogIn"},
    "hal/mcu/buzzer.py": {"PwmBuzzer": "Buzzer"},
    "hal/mcu/clock.py": {"McuClock": "Clock"},
    "hal/mcu/rotation.py": {"EdgeCounter": "RotationSensor"},
    "hal/mcu/serial.py": {"UsbSerial": "SerialLink"},
    "hal/mcu/stepper.py": {"StepDirStepper": "Stepper"},
    "hal/mcu/storage.py": {"FlashStorage": "Storage"},
    "hal/mcu/watchdog.py": {"McuWatchdog": "Watchdog"},
}
MOCKS = {
    "hal/mock/clock.py": {"VirtualClock": "Clock"},
    "hal/mock/io.py": {"MockBuzzer": "Buzzer", "MockAnalog": "AnalogIn", "MockWatchdog": "Watchdog",
                       "MockBattery": "AnalogIn"},
    "hal/mock/line.py": {"MockLine": "AnalogIn"},
    "hal/mock/pump.py": {"MockPump": "Stepper", "MockRotation": "RotationSensor", "MockPressure": "AnalogIn"},
    "hal/mock/serial.py": {"MockSerial": "SerialLink"},
    "hal/mock/storage.py": {"MockFlash": "Storage"},
}
NOT_HAL = {"hal/mock/storage.py": {"PowerLoss"}}     # classes there that stand for no hardware


def _read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def _classes(source):
    """{class name: ast.ClassDef} of a module's top level."""
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def _methods(cls):
    """{method name: ast.FunctionDef} defined in a class body."""
    return {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}


def _positional(fn):
    """The positional parameter names of a def, self included, in order."""
    return [a.arg for a in fn.args.posonlyargs + fn.args.args]


def _only_raises(fn):
    """True when the body (past its docstring) is `raise NotImplementedError`: no default to inherit."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def contracts(source):
    """{contract: {method: (positional parameters, True if the contract implements it)}}."""
    return {name: {m: (_positional(fn), not _only_raises(fn)) for m, fn in _methods(cls).items()}
            for name, cls in _classes(source).items()}


def violations(source, mapping, contract_map):
    """What the classes of one module lack against their contracts, as readable lines ([] when none).
    `mapping` is {class: contract}; `contract_map` is contracts() of hal/contracts.py."""
    out = []
    found = _classes(source)
    for cls_name, contract in sorted(mapping.items()):
        cls = found.get(cls_name)
        if cls is None:
            out.append("%s: no such class" % cls_name)
            continue
        bases = {b.id for b in cls.bases if isinstance(b, ast.Name)}
        defined = _methods(cls)
        for method, (params, implemented) in sorted(contract_map[contract].items()):
            fn = defined.get(method)
            if fn is None:
                if not (implemented and contract in bases):
                    out.append("%s.%s missing (contract %s)" % (cls_name, method, contract))
            elif _positional(fn) != params:
                out.append("%s.%s(%s): contract %s has (%s)" % (cls_name, method, ", ".join(_positional(fn)),
                                                               contract, ", ".join(params)))
    return out


def _contract_map():
    return contracts(_read(CONTRACTS))


def test_the_contracts_are_the_hals_eight():
    """The contract module holds the eight contracts, each method with its parameters (the docs' list)."""
    c = _contract_map()
    assert sorted(c) == ["AnalogIn", "Buzzer", "Clock", "RotationSensor", "SerialLink", "Stepper", "Storage",
                         "Watchdog"]
    assert c["Clock"]["sleep_until"] == (["self", "deadline_ticks", "serial"], False)
    assert c["Clock"]["ticks_add"] == (["self", "ticks", "delta_ms"], True)
    assert c["SerialLink"]["write_json"] == (["self", "obj"], True)
    assert sorted(c["Stepper"]) == ["enable", "is_enabled", "pulses_sent", "set_forward", "step"]
    assert c["Storage"]["write"] == (["self", "name", "data"], False)


def _violations_of(table, c):
    """Every violation of the classes of `table` (file -> {class: contract}) against contracts `c`."""
    return ["%s: %s" % (rel, v) for rel, mapping in table.items() for v in violations(_read(rel), mapping, c)]


def test_every_board_driver_has_every_method_of_its_contract():
    c = _contract_map()
    assert _violations_of(DRIVERS, c) == []
    assert sorted({k for m in DRIVERS.values() for k in m.values()}) == sorted(c), "a contract without a driver"


def test_every_mock_has_every_method_of_its_contract():
    assert _violations_of(MOCKS, _contract_map()) == []


def test_every_driver_and_mock_class_is_mapped_to_a_contract():
    for folder, table in (("hal/mcu", DRIVERS), ("hal/mock", MOCKS)):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if not name.endswith(".py"):
                continue
            rel = folder + "/" + name
            have = set(_classes(_read(rel)))
            assert have == set(table.get(rel, {})) | NOT_HAL.get(rel, set()), (rel, sorted(have))


def test_the_drivers_subclass_no_contract():
    """A driver that subclassed its contract would pull hal/contracts.py onto the board."""
    for rel, mapping in DRIVERS.items():
        for cls_name in mapping:
            assert _classes(_read(rel))[cls_name].bases == [], (rel, cls_name)


def test_the_mocks_inherit_their_contract_at_run_time():
    """On CPython the mocks are real subclasses of their contracts (they inherit its defaults)."""
    import hal.contracts
    for rel, mapping in MOCKS.items():
        module = __import__(rel[:-3].replace("/", "."), fromlist=["_"])
        for cls_name, contract in mapping.items():
            assert issubclass(getattr(module, cls_name), getattr(hal.contracts, contract)), (rel, cls_name)


def _without_method(source, cls_name, method):
    """The module's source with one method taken out of a class (as a driver that forgot it)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            node.body = [n for n in node.body if not (isinstance(n, ast.FunctionDef) and n.name == method)]
    return ast.unparse(tree)


def test_the_check_catches_a_driver_missing_a_method():
    c = _contract_map()
    stepper = _without_method(_read("hal/mcu/stepper.py"), "StepDirStepper", "pulses_sent")
    assert violations(stepper, DRIVERS["hal/mcu/stepper.py"], c) == [
        "StepDirStepper.pulses_sent missing (contract Stepper)"]
    # the contract's default does not reach a driver: it subclasses nothing
    serial = _without_method(_read("hal/mcu/serial.py"), "UsbSerial", "write_json")
    assert violations(serial, DRIVERS["hal/mcu/serial.py"], c) == ["UsbSerial.write_json missing (contract SerialLink)"]
    clock = _without_method(_read("hal/mcu/clock.py"), "McuClock", "ticks_diff")
    assert violations(clock, DRIVERS["hal/mcu/clock.py"], c) == ["McuClock.ticks_diff missing (contract Clock)"]
    # a mock inherits that default, but not a method the contract only names
    mock = _read("hal/mock/serial.py")
    assert "def write_json" not in mock and violations(mock, MOCKS["hal/mock/serial.py"], c) == []
    assert violations(_without_method(mock, "MockSerial", "write"), MOCKS["hal/mock/serial.py"], c) == [
        "MockSerial.write missing (contract SerialLink)"]


def test_the_check_catches_a_wrong_signature():
    c = _contract_map()
    source = _read("hal/mcu/storage.py")
    assert source.count("def write(self, name, data):") == 1
    for wrong, params in (("def write(self, data):", "self, data"),                  # a parameter missing
                          ("def write(self, data, name):", "self, data, name"),      # order swapped
                          ("def write(self, name, data, sync):", "self, name, data, sync")):   # one too many
        bad = source.replace("def write(self, name, data):", wrong)
        assert violations(bad, DRIVERS["hal/mcu/storage.py"], c) == [
            "FlashStorage.write(%s): contract Storage has (self, name, data)" % params]
    renamed = _read("hal/mcu/buzzer.py").replace("class PwmBuzzer", "class PiezoBuzzer")
    assert violations(renamed, DRIVERS["hal/mcu/buzzer.py"], c) == ["PwmBuzzer: no such class"]


def _build_tool():
    spec = importlib.util.spec_from_file_location("pump_build_tool_c", os.path.join(ROOT, "tools/deploy/build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _imports(source):
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(node.module + "." + a.name for a in node.names)
    return names


def test_the_contracts_never_reach_a_board():
    """Neither the .mpy deploy, the mip package nor the frozen manifest carries hal/contracts.py, and no
    module they carry imports it (the board keeps only hal/interfaces.py of the HAL's shared part)."""
    build = _build_tool()
    for board in BOARDS:
        sources = build.sources(board)
        assert "hal/interfaces.py" in sources and CONTRACTS not in sources
        for rel in sources:
            assert "hal.contracts" not in _imports(_read(rel)), rel
    with open(os.path.join(ROOT, "package.json")) as f:
        assert CONTRACTS not in json.dumps(json.load(f)["urls"])
    manifest = _read("boards/manifest_common.py")
    assert '"interfaces.py"' in manifest and "contracts" not in manifest
