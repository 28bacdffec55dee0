"""OCTT-style conformance tests: the simulator as a black box against an ocpp-library CSMS."""
