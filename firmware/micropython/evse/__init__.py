# MicroPython EVSE controller for ocpp_cp: pure logic modules plus one hardware module.
VERSION = "0.1.0"
