# Clock and const() shims: MicroPython's own functions, or (on CPython only, for the host
# tests) stand-ins with the same wrap-around from evse._host, which MicroPython never loads.
try:
    from time import sleep_ms, ticks_add, ticks_diff, ticks_ms, ticks_us

    from micropython import const
except ImportError:
    from evse._host import *  # noqa: F403

__all__ = ["const", "sleep_ms", "ticks_add", "ticks_diff", "ticks_ms", "ticks_us"]
