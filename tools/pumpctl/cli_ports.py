"""`pumpctl ports`: the serial ports a board could be on (like `mpremote devs`), one line each:
device, serial number, USB vid:pid, manufacturer, product. A Pico running MicroPython shows as
2e8a:0005; an ESP32 dev board as its USB-serial bridge (10c4:ea60, 1a86:7523, ...)."""

import json
import sys


def list_ports():
    """[{device, serial_number, vid_pid, manufacturer, product, description}] sorted by device."""
    try:
        from serial.tools import list_ports as lp
    except ImportError:
        from pumpctl.devcmd import UsageError
        raise UsageError("pyserial is not installed: pip install pyserial (make sim installs it)")
    ports = []
    for p in sorted(lp.comports(), key=lambda p: p.device):
        ports.append({"device": p.device, "serial_number": p.serial_number,
                      "vid_pid": "%04x:%04x" % (p.vid, p.pid) if p.vid is not None else None,
                      "manufacturer": p.manufacturer, "product": p.product, "description": p.description})
    return ports


def cmd_ports(args):
    ports = list_ports()
    if args.json:
        sys.stdout.write(json.dumps({"ports": ports}) + "\n")
        return 0
    if not ports:
        print("no serial ports found (is the board plugged in? a served simulator is reached with "
              "--port socket://127.0.0.1:PORT)")
        return 0
    for p in ports:
        print(" ".join(str(p[k] if p[k] is not None else "-") for k in ("device", "serial_number", "vid_pid",
                                                                          "manufacturer", "product")))
    return 0


def register(sub):
    p = sub.add_parser("ports", help="list the serial ports a board could be on (like mpremote devs)")
    p.add_argument("--json", action="store_true", help="print {\"ports\": [...]} as one JSON object")
    p.set_defaults(func=cmd_ports)
