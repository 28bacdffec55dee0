# CPython stand-ins for MicroPython's const() and time.ticks_*: the same wrap-around (period
# 2**30 ms, as on the ESP32 and the WebAssembly build), and stricter: a stamp outside
# [0, 2**30) is refused (MicroPython silently returns garbage for it).
import time as _time

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = _PERIOD >> 1


def const(x):
    return x


def ticks_ms():
    return (_time.monotonic_ns() // 1000000) & _MASK


def ticks_us():
    return (_time.monotonic_ns() // 1000) & _MASK


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    if not (0 <= a <= _MASK and 0 <= b <= _MASK):
        raise ValueError("ticks out of range")
    return ((a - b + _HALF) & _MASK) - _HALF


def sleep_ms(ms):
    _time.sleep(ms / 1000)
