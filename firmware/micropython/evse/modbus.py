# Modbus RTU for Eastron SDM120 / SDM630 DIN-rail meters: request frames, CRC, response
# parsing and the register map (input registers, function 0x04, IEEE-754 float32 big-endian).
import struct

READ_INPUT = 0x04

# Reads per meter type: (first register, names of the consecutive float32 values; "-" skips
# one). SDM630: 0x00-0x04 voltage L1-L3, 0x06-0x0A current L1-L3, 0x34 total system power,
# 0x48 import energy (kWh). SDM120 (single phase): 0x00 voltage, 0x06 current, 0x0C power.
METERS = {
    "sdm630": ((0x00, "u1 u2 u3 i1 i2 i3"), (0x34, "p"), (0x48, "kwh")),
    "sdm120": ((0x00, "u1 - - i1 - - p"), (0x48, "kwh")),
}


def crc16(buf, n=None):
    crc = 0xFFFF
    if n is None:
        n = len(buf)
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def request(addr, start, count, fn=READ_INPUT):
    f = bytearray(8)
    f[0] = addr
    f[1] = fn
    f[2] = start >> 8
    f[3] = start & 0xFF
    f[4] = count >> 8
    f[5] = count & 0xFF
    c = crc16(f, 6)
    f[6] = c & 0xFF
    f[7] = c >> 8
    return bytes(f)


def response_len(count):
    return 5 + 2 * count


def parse(frame, addr, count, fn=READ_INPUT):
    """Register bytes of a response; ValueError with the reason otherwise."""
    n = len(frame)
    if n < 5:
        raise ValueError("short frame")
    if frame[0] != addr:
        raise ValueError("wrong address")
    if frame[1] == fn | 0x80:
        if crc16(frame, 3) != frame[3] | frame[4] << 8:
            raise ValueError("bad crc")
        raise ValueError(f"exception {frame[2]}")
    if frame[1] != fn:
        raise ValueError("wrong function")
    size = 2 * count
    if frame[2] != size or n < size + 5:
        raise ValueError("wrong length")
    if crc16(frame, size + 3) != frame[size + 3] | frame[size + 4] << 8:
        raise ValueError("bad crc")
    return bytes(frame[3 : size + 3])


def count(names):
    """Registers to read for a names string (two per float32)."""
    return 2 * len(names.split())


def decode(data, names, out):
    """Store the float32 values named in `names` into the dict `out`."""
    i = 0
    for key in names.split():
        if key != "-":
            out[key] = struct.unpack_from(">f", data, i)[0]
        i += 4
    return out


def finish(out):
    """Derived values: the energy register in Wh."""
    kwh = out.get("kwh")
    if kwh is not None:
        out["wh"] = int(kwh * 1000)
    return out
