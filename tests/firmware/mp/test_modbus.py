# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import struct
import unittest

from evse import modbus


def reply(addr, values, fn=4):
    data = b"".join(struct.pack(">f", v) for v in values)
    body = bytes([addr, fn, len(data)]) + data
    c = modbus.crc16(body)
    return body + bytes([c & 0xFF, c >> 8])


class ModbusTest(unittest.TestCase):
    def test_crc_known_frame(self):
        # The textbook "read input registers 0-1 of slave 1" frame ends in 71 CB.
        self.assertEqual(modbus.request(1, 0, 2), b"\x01\x04\x00\x00\x00\x02\x71\xcb")

    def test_crc_of_frame_with_crc_is_zero(self):
        f = modbus.request(7, 0x48, 2)
        self.assertEqual(modbus.crc16(f), 0)

    def test_parse_and_decode(self):
        frame = reply(1, [230.5, 16.25])
        data = modbus.parse(frame, 1, 4)
        out = modbus.decode(data, "u1 i1", {})
        self.assertAlmostEqual(out["u1"], 230.5)
        self.assertAlmostEqual(out["i1"], 16.25)

    def test_sdm630_plan_decodes(self):
        plan = modbus.METERS["sdm630"]
        self.assertEqual([(s, modbus.count(n)) for s, n in plan], [(0, 12), (0x34, 2), (0x48, 2)])
        out = {}
        vals = {0: [230.0, 231.0, 229.0, 10.0, 11.0, 12.0], 0x34: [7589.0], 0x48: [1234.567]}
        for start, names in plan:
            frame = reply(1, vals[start])
            modbus.decode(modbus.parse(frame, 1, modbus.count(names)), names, out)
        modbus.finish(out)
        self.assertEqual(out["u3"], 229.0)
        self.assertEqual(out["i3"], 12.0)
        self.assertEqual(out["p"], 7589.0)
        self.assertTrue(abs(out["wh"] - 1234567) <= 100)  # float32 resolution

    def test_sdm120_plan(self):
        start, names = modbus.METERS["sdm120"][0]
        self.assertEqual((start, modbus.count(names)), (0, 14))
        frame = reply(1, [230.0, 0, 0, 8.0, 0, 0, 1840.0])
        out = modbus.decode(modbus.parse(frame, 1, 14), names, {})
        self.assertEqual((out["u1"], out["i1"], out["p"]), (230.0, 8.0, 1840.0))
        self.assertEqual(sorted(out), ["i1", "p", "u1"])

    def test_errors(self):
        good = reply(1, [1.0])
        bad_crc = good[:-1] + bytes([good[-1] ^ 1])
        exc = bytes([1, 0x84, 2])
        c = modbus.crc16(exc)
        exc += bytes([c & 0xFF, c >> 8])
        cases = (
            (b"", 1, 2, "short frame"),
            (good, 2, 2, "wrong address"),
            (bad_crc, 1, 2, "bad crc"),
            (good, 1, 4, "wrong length"),
            (exc, 1, 2, "exception 2"),
            (reply(1, [1.0], fn=3), 1, 2, "wrong function"),
        )
        for frame, addr, count, msg in cases:
            with self.assertRaises(ValueError) as cm:
                modbus.parse(frame, addr, count)
            self.assertEqual(str(cm.exception), msg)

    def test_response_len(self):
        self.assertEqual(modbus.response_len(18), 41)
