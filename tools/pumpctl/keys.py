"""Key files: the per-role HMAC keys a host signs with (docs/protocol.md, "Keys").

A key file is JSON, readable by its owner only (mode 600):

    {"format": 1, "device": "e6614c311b7e3a2f", "keys": {"clinician": "<64 hex>", "patient": "...", "bench": "..."}}

`device` (optional) is the serial number the keys were provisioned on; pumpctl refuses to sign for
another device. A patient's programmer gets a file with the patient key only (`pumpctl keys extract`).
The simulator's development keys come from a public seed: never put them on a board (it refuses them).
"""

import hashlib
import json
import os
import stat
from pathlib import Path

from pumpctl.sign import ROLES

FORMAT = 1
KEY_BYTES = 32
DEV_SEED = b"micro-dosing pump simulator development key (public, never on a board): "   # = firmware/authstore.py


class KeyFileError(ValueError):
    pass


def dev_keys():
    """The simulator's development keys (the same derivation as firmware/authstore.py dev_key)."""
    return {role: hashlib.sha256(DEV_SEED + role.encode()).digest() for role in ROLES}


def weak_reason(key):
    """Why a board refuses this key (None: it does not). The same rule as firmware/authstore.py
    weak_key (tests_host/test_keys_host.py checks that they agree): a development key of any role, fewer
    than 16 different byte values, an arithmetic progression, or printable ASCII only."""
    for role, dev in dev_keys().items():
        if key == dev:
            return "the simulator's public development key for %s" % role
    if len(set(key)) < 16:
        return "fewer than 16 different byte values"
    steps = {(key[i] - key[i - 1]) & 0xFF for i in range(1, len(key))}
    if len(steps) == 1:
        return "bytes in an arithmetic progression"
    if all(0x20 <= b <= 0x7E for b in key):
        return "printable text (a password, not a random key)"
    return None


def generate(roles=ROLES):
    """Fresh random keys, one per role (os.urandom: the OS's CSPRNG), never a weak one."""
    keys = {}
    for role in roles:
        if role not in ROLES:
            raise KeyFileError("unknown role %r (use %s)" % (role, ", ".join(ROLES)))
        key = os.urandom(KEY_BYTES)
        while weak_reason(key) is not None or key in keys.values():   # below 1e-13 per key
            key = os.urandom(KEY_BYTES)
        keys[role] = key
    return keys


def default_path():
    env = os.environ.get("PUMPCTL_KEYS")
    if env:
        return Path(env)
    return Path.home() / ".config" / "pumpctl" / "keys.json"


def save(path, keys, device=None, force=False):
    """Write a key file with mode 600 (created that way: never readable by others, not even briefly)."""
    path = Path(path)
    if path.exists() and not force:
        raise KeyFileError("%s exists: refusing to overwrite keys (--force replaces it)" % path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "device": device,
            "keys": {role: keys[role].hex() for role in ROLES if role in keys}}
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(str(tmp), 0o600)
    os.replace(str(tmp), str(path))
    return path


def load(path):
    """(keys {role: bytes}, device or None, warnings). Raises KeyFileError with a readable message."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError("cannot read key file %s: %s" % (path, exc.strerror or exc))
    try:
        data = json.loads(text)
    except ValueError:
        raise KeyFileError("%s is not JSON" % path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("keys"), dict):
        raise KeyFileError("%s is not a pumpctl key file (format %d)" % (path, FORMAT))
    keys = {}
    for role, value in data["keys"].items():
        if role not in ROLES:
            raise KeyFileError("%s: unknown role %r" % (path, role))
        try:
            key = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES or value != value.lower():
            raise KeyFileError("%s: the %s key must be 64 lowercase hex characters" % (path, role))
        keys[role] = key
    if not keys:
        raise KeyFileError("%s holds no keys" % path)
    warnings = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        warnings.append("%s is readable by others (mode %03o): chmod 600 it" % (path, mode))
    device = data.get("device")
    return keys, device if isinstance(device, str) else None, warnings


def provision_args(keys):
    """The keys.provision arguments for these keys."""
    return {"keys": {role: keys[role].hex() for role in ROLES if role in keys}}
