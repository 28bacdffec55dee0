"""Tests for the OCPP-J 1.6 frame codec and the compiled schema validation."""

from __future__ import annotations

import copy
import json
import math
import random
import threading
from decimal import Decimal
from typing import Any

import ocpp.messages
import pytest

from custom_components.ocpp_cp.engine.ocpp16 import frames, validation
from custom_components.ocpp_cp.engine.ocpp16.frames import (
    CSMS_TO_CP_ACTIONS,
    KNOWN_ACTIONS,
    MAX_FRAME_BYTES,
    BadFrame,
    Call,
    CallError,
    CallErrorCode,
    CallResult,
    OcppCallError,
    encode_call,
    encode_call_error,
    encode_call_result,
    parse_frame,
)
from custom_components.ocpp_cp.engine.ocpp16.validation import load_validators, validate

GE = CallErrorCode.GENERIC_ERROR
FV = CallErrorCode.FORMATION_VIOLATION
ID36 = "a" * 36
ID37 = "a" * 37


# ------------------------------------------------------------------------------------------
# parse_frame
# ------------------------------------------------------------------------------------------

VALID_FRAMES: list[tuple[str | bytes, frames.Frame]] = [
    ('[2,"1","Heartbeat",{}]', Call("1", "Heartbeat", {})),
    (b'[2,"1","Heartbeat",{}]', Call("1", "Heartbeat", {})),
    (' \n[ 2 , "x" , "Reset" , {"type":"Soft"} ] \n', Call("x", "Reset", {"type": "Soft"})),
    (f'[2,"{ID36}","Heartbeat",{{}}]', Call(ID36, "Heartbeat", {})),
    # Unknown actions are the engine's business (NotImplemented), not a frame error.
    ('[2,"1","NoSuchAction",{}]', Call("1", "NoSuchAction", {})),
    (
        '[3,"1",{"currentTime":"2026-11-21T11:00:00Z"}]',
        CallResult("1", {"currentTime": "2026-11-21T11:00:00Z"}),
    ),
    ('[3,"1",{}]', CallResult("1", {})),
    ('[4,"1","NotSupported","nope",{}]', CallError("1", "NotSupported", "nope", {})),
    # A received 2.0-style code is passed through verbatim.
    ('[4,"1","FormatViolation","",{"a":1}]', CallError("1", "FormatViolation", "", {"a": 1})),
    (
        '[2,"ü€😀","DataTransfer",{"vendorId":"ü€😀"}]',
        Call("ü€😀", "DataTransfer", {"vendorId": "ü€😀"}),
    ),
    (
        '[2,"1","DataTransfer",{"vendorId":"\\ud83d\\ude00"}]',
        Call("1", "DataTransfer", {"vendorId": "😀"}),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), VALID_FRAMES)
def test_parse_valid_frames(raw: str | bytes, expected: frames.Frame) -> None:
    assert parse_frame(raw) == expected


BAD_FRAMES: list[tuple[str | bytes, CallErrorCode, str | None]] = [
    # Not JSON / not an array / not UTF-8 -> drop.
    ("", FV, None),
    ("hello", FV, None),
    ('[2,"1","Heartbeat",{}', FV, None),
    ('[2,"1","Heartbeat",{}] x', FV, None),
    ('{"a":1}', FV, None),
    ('"[2,\\"1\\",\\"Heartbeat\\",{}]"', FV, None),
    ("42", FV, None),
    ("null", FV, None),
    ("[]", FV, None),
    (b'[2,"1","Heartbeat",{"a":"\xff"}]', FV, None),
    (b'\xef\xbb\xbf[2,"1","Heartbeat",{}]', FV, None),
    ('[2,"1","Heartbeat",{"a":NaN}]', FV, None),
    ('[2,"1","Heartbeat",{"a":Infinity}]', FV, None),
    ('[2,"1","Heartbeat",{"a":-Infinity}]', FV, None),
    ("[" * 100_000 + "]" * 100_000, FV, None),
    ('[2,"1","Heartbeat",{"a":' + "9" * 5000 + "}]", FV, None),
    # Valid JSON, but a number no float can hold: answer the call.
    ('[2,"1","Heartbeat",{"a":1e400}]', FV, "1"),
    ('[3,"1",{"a":1e400}]', FV, None),
    # No usable unique id -> drop.
    ("[2]", FV, None),
    ('[2,1,"Heartbeat",{}]', FV, None),
    ('[2,null,"Heartbeat",{}]', FV, None),
    ('["2"]', FV, None),
    ('[2,"\\ud800","Heartbeat",{}]', FV, None),
    # CALL with a recoverable id but malformed otherwise -> answer GenericError.
    ('[2,"1"]', GE, "1"),
    ('[2,"1","Heartbeat"]', GE, "1"),
    ('[2,"1","Heartbeat",{},{}]', GE, "1"),
    ('[2,"1",7,{}]', GE, "1"),
    ('[2,"1",null,{}]', GE, "1"),
    ('[2,"",  "Heartbeat",{}]', GE, ""),
    (f'[2,"{ID37}","Heartbeat",{{}}]', GE, ID37),
    # ... except a payload that is present but not an object.
    ('[2,"1","Heartbeat",[]]', FV, "1"),
    ('[2,"1","Heartbeat",null]', FV, "1"),
    ('[2,"1","Heartbeat","{}"]', FV, "1"),
    ('[2,"1","Heartbeat",5]', FV, "1"),
    ('[2,"1","DataTransfer",{"vendorId":"\\udc00"}]', FV, "1"),
    # Unknown message type id with a string id -> GenericError with that id.
    ('[5,"1","Heartbeat",{}]', GE, "1"),
    ('[0,"1"]', GE, "1"),
    ('["2","1","Heartbeat",{}]', GE, "1"),
    ('[null,"1","Heartbeat",{}]', GE, "1"),
    ('[2.0,"1","Heartbeat",{}]', GE, "1"),
    ('[3.0,"1",{}]', GE, "1"),
    ('[4.0,"1","GenericError","",{}]', GE, "1"),
    ('[true,"1","Heartbeat",{}]', GE, "1"),
    ('[{},"1"]', GE, "1"),
    (f'[5,"{ID37}"]', GE, ID37),
    # Malformed responses are never answered (that would loop).
    ("[3]", FV, None),
    ('[3,"1"]', FV, None),
    ('[3,"1",[]]', FV, None),
    ('[3,"1",null]', FV, None),
    ('[3,"1",{},{}]', FV, None),
    ("[3,1,{}]", FV, None),
    ('[3,"",{}]', FV, None),
    (f'[3,"{ID37}",{{}}]', FV, None),
    ('[3,"1",{"a":"\\ud800"}]', FV, None),
    ('[4,"1","GenericError","x"]', FV, None),
    ('[4,"1","GenericError","x",{},1]', FV, None),
    ('[4,"1",5,"x",{}]', FV, None),
    ('[4,"1","GenericError",null,{}]', FV, None),
    ('[4,"1","GenericError","x",[]]', FV, None),
    ('[4,null,"GenericError","x",{}]', FV, None),
]


@pytest.mark.parametrize(("raw", "code", "unique_id"), BAD_FRAMES)
def test_parse_bad_frames(raw: str | bytes, code: CallErrorCode, unique_id: str | None) -> None:
    with pytest.raises(BadFrame) as info:
        parse_frame(raw)
    assert info.value.code == code
    assert info.value.unique_id == unique_id
    assert info.value.description


def _oversized(prefix: str, limit: int) -> str:
    # Deliberately not valid JSON after the prefix: parsing it would lose the id.
    return prefix + "x" * (limit + 10)


@pytest.mark.parametrize(
    ("prefix", "unique_id"),
    [
        ('[2,"abc-123","DataTransfer",{"data":"', "abc-123"),
        (' [ 2 , "abc" ,', "abc"),
        ('\u00a0[2,"abc",', None),  # no-break space is not JSON whitespace
        (f'[2,"{ID36}",', ID36),
        (f'[2,"{ID37}",', None),
        ('[2,"a\\"b",', None),
        ('[3,"abc",{"a":"', None),
        ('[4,"abc","x","', None),
        ("garbage", None),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_oversized_frame(prefix: str, unique_id: str | None, as_bytes: bool) -> None:
    limit = 1000
    text = _oversized(prefix, limit)
    raw: str | bytes = text.encode() if as_bytes else text
    with pytest.raises(BadFrame) as info:
        parse_frame(raw, max_bytes=limit)
    assert info.value.code == GE
    assert info.value.unique_id == unique_id
    assert info.value.description == (
        f"frame of {len(text.encode())} bytes exceeds the {limit} byte limit"
    )


def test_oversized_counts_utf8_bytes_not_characters() -> None:
    payload = {"vendorId": "€" * 400}  # 400 characters, 1200 bytes
    raw = encode_call("1", "DataTransfer", payload)
    assert len(raw) < 1000 < len(raw.encode())
    with pytest.raises(BadFrame) as info:
        parse_frame(raw, max_bytes=1000)
    assert info.value.unique_id == "1"
    assert info.value.description.startswith(f"frame of {len(raw.encode())} bytes")
    assert parse_frame(raw, max_bytes=len(raw.encode())) == Call("1", "DataTransfer", payload)


def test_oversized_frame_is_never_json_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Boom:
        def decode(self, text: str) -> Any:
            raise AssertionError("oversized frame was parsed")

    monkeypatch.setattr(frames, "_DECODER", Boom())
    with pytest.raises(BadFrame) as info:
        parse_frame('[2,"1","Heartbeat",{}]' + " " * 100, max_bytes=50)
    assert info.value.unique_id == "1"


def test_default_frame_limit() -> None:
    assert MAX_FRAME_BYTES == 256 * 1024
    body = {"vendorId": "v", "data": "x" * (MAX_FRAME_BYTES - 100)}
    assert isinstance(parse_frame(encode_call("1", "DataTransfer", body)), Call)
    body["data"] = "x" * MAX_FRAME_BYTES
    with pytest.raises(BadFrame) as info:
        parse_frame(encode_call("1", "DataTransfer", body))
    assert (info.value.code, info.value.unique_id) == (GE, "1")


# ------------------------------------------------------------------------------------------
# Encoding
# ------------------------------------------------------------------------------------------


def test_encode_is_compact_and_utf8() -> None:
    assert encode_call("1", "Heartbeat", {}) == '[2,"1","Heartbeat",{}]'
    assert encode_call("1", "DataTransfer", {"vendorId": "é€", "data": "a b"}) == (
        '[2,"1","DataTransfer",{"vendorId":"é€","data":"a b"}]'
    )
    assert encode_call_result("9", {"status": "Accepted"}) == '[3,"9",{"status":"Accepted"}]'
    assert encode_call_error("9", CallErrorCode.NOT_SUPPORTED) == '[4,"9","NotSupported","",{}]'
    assert encode_call_error("9", "GenericError", "boom", {"k": 1}) == (
        '[4,"9","GenericError","boom",{"k":1}]'
    )


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")]
)
def test_encode_refuses_non_finite_numbers(bad: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_call("1", "DataTransfer", {"x": bad})
    with pytest.raises(ValueError, match="JSON"):
        encode_call_result("1", {"limit": [1.0, bad]})
    with pytest.raises(ValueError, match="JSON"):
        encode_call_error("1", "GenericError", "", {"x": bad})


def test_encode_decimal_as_number() -> None:
    payload = {"a": Decimal("21.4"), "b": Decimal("16"), "c": Decimal("5.0"), "d": Decimal("-0.1")}
    assert encode_call_result("1", payload) == '[3,"1",{"a":21.4,"b":16,"c":5.0,"d":-0.1}]'


def test_encode_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError):
        encode_call("1", "DataTransfer", {"x": object()})


@pytest.mark.parametrize(
    "frame",
    [
        Call("abc", "BootNotification", {"chargePointVendor": "Ü", "chargePointModel": "M"}),
        Call(
            ID36,
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [{"value": "1.5"}]}
                ],
            },
        ),
        CallResult(
            "x", {"status": "Accepted", "limit": 21.4, "nested": {"a": [1, 2.5, None, True]}}
        ),
        CallResult("x", {}),
        CallError("x", "NotImplemented", 'unknown action "Foo"', {}),
        CallError("x", "InternalError", "", {"cause": "😀"}),
    ],
)
def test_round_trip(frame: frames.Frame) -> None:
    if isinstance(frame, Call):
        raw = encode_call(frame.unique_id, frame.action, frame.payload)
    elif isinstance(frame, CallResult):
        raw = encode_call_result(frame.unique_id, frame.payload)
    else:
        raw = encode_call_error(frame.unique_id, frame.code, frame.description, frame.details)
    assert parse_frame(raw) == frame
    assert parse_frame(raw.encode()) == frame


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------


def _profile(limit: Any, min_rate: Any = None) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16},
            {"startPeriod": 60, "limit": limit},
        ],
    }
    if min_rate is not None:
        schedule["minChargingRate"] = min_rate
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }


def _set_profile(limit: Any, min_rate: Any = None) -> dict[str, Any]:
    return {"connectorId": 1, "csChargingProfiles": _profile(limit, min_rate)}


BOOT_RESPONSE = {"status": "Accepted", "currentTime": "2026-11-21T11:00:00Z", "interval": 300}
METER_VALUES = {
    "connectorId": 1,
    "transactionId": 7,
    "meterValue": [
        {
            "timestamp": "2026-11-21T11:00:00.123Z",
            "sampledValue": [
                {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            ],
        }
    ],
}

PCV = CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION
TCV = CallErrorCode.TYPE_CONSTRAINT_VIOLATION
OCV = CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
PE = CallErrorCode.PROTOCOL_ERROR

# (action, payload, response, expected code, substring of the description)
INVALID_PAYLOADS: list[tuple[str, Any, bool, CallErrorCode, str]] = [
    (
        "BootNotification",
        {**BOOT_RESPONSE, "status": "Maybe"},
        True,
        PCV,
        "data.status must be one of Accepted, Pending, Rejected",
    ),
    (
        "RemoteStartTransaction",
        {"idTag": "x" * 21},
        False,
        PCV,
        "data.idTag must be shorter than or equal to 20 characters",
    ),
    ("Reset", {}, False, PE, "payload incomplete: data lacks type"),
    (
        "ChangeConfiguration",
        {"key": "a", "value": "b", "extra": 1},
        False,
        FV,
        "data has unexpected properties: extra",
    ),
    ("GetConfiguration", {"key": "HeartbeatInterval"}, False, TCV, "data.key must be array"),
    ("ChangeConfiguration", {"key": 5, "value": "b"}, False, TCV, "data.key must be string"),
    (
        "SetChargingProfile",
        _set_profile(21.45),
        False,
        PCV,
        "chargingSchedulePeriod[1].limit must be a multiple of 0.1",
    ),
    (
        "SetChargingProfile",
        _set_profile(16, 6.05),
        False,
        PCV,
        "data.csChargingProfiles.chargingSchedule.minChargingRate must be a multiple of 0.1",
    ),
    (
        "SetChargingProfile",
        _set_profile("16"),
        False,
        TCV,
        "chargingSchedulePeriod[1].limit must be number",
    ),
    ("SetChargingProfile", _set_profile(True), False, TCV, "limit must be number"),
    (
        "RemoteStartTransaction",
        {"idTag": "a", "chargingProfile": _profile(7.77)},
        False,
        PCV,
        "data.chargingProfile.chargingSchedule.chargingSchedulePeriod[1].limit must be a multiple",
    ),
    (
        "GetCompositeSchedule",
        {
            "status": "Accepted",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.05}],
            },
        },
        True,
        PCV,
        "multiple of 0.1",
    ),
    (
        "MeterValues",
        {"connectorId": 1, "meterValue": []},
        False,
        OCV,
        "data.meterValue must contain at least 1 items",
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": "2026-11-21T11:00:00Z", "sampledValue": []}],
        },
        False,
        OCV,
        "data.meterValue[0].sampledValue must contain at least 1 items",
    ),
    (
        "MeterValues",
        {"connectorId": "1", "meterValue": METER_VALUES["meterValue"]},
        False,
        TCV,
        "data.connectorId must be integer",
    ),
    (
        "MeterValues",
        {"connectorId": 1.5, "meterValue": METER_VALUES["meterValue"]},
        False,
        TCV,
        "data.connectorId must be integer",
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": "yesterday", "sampledValue": [{"value": "1"}]}],
        },
        False,
        PCV,
        "data.meterValue[0].timestamp must be an RFC 3339 date-time",
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": "2026-11-21T11:00:00Z",
                    "sampledValue": [{"value": "1", "unit": "kW", "phase": "L4"}],
                }
            ],
        },
        False,
        PCV,
        "data.meterValue[0].sampledValue[0].phase must be one of",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError"},
        False,
        PE,
        "payload incomplete: data lacks status",
    ),
    (
        "Authorize",
        {"idTag": "x" * 21},
        False,
        PCV,
        "data.idTag must be shorter than or equal to 20 characters",
    ),
    (
        "Authorize",
        {"idTagInfo": {"status": "Accepted", "parentIdTag": "p" * 21}},
        True,
        PCV,
        "data.idTagInfo.parentIdTag must be shorter than or equal to 20",
    ),
    (
        "StartTransaction",
        {"idTagInfo": {"status": "Accepted"}},
        True,
        PE,
        "payload incomplete: data lacks transactionId",
    ),
    (
        "DataTransfer",
        {"vendorId": "v" * 256},
        False,
        PCV,
        "data.vendorId must be shorter than or equal to 255 characters",
    ),
    (
        "GetInstalledCertificateIds",
        {"status": "Nope"},
        True,
        PCV,
        "data.status must be one of Accepted, NotFound",
    ),
    (
        "GetInstalledCertificateIds",
        {"status": "Accepted", "certificateHashData": []},
        True,
        OCV,
        "data.certificateHashData must contain at least 1 items",
    ),
    (
        "GetInstalledCertificateIds",
        {
            "status": "Accepted",
            "certificateHashData": [
                {
                    "hashAlgorithm": "MD5",
                    "issuerNameHash": "a",
                    "issuerKeyHash": "b",
                    "serialNumber": "c",
                }
            ],
        },
        True,
        PCV,
        "data.certificateHashData[0].hashAlgorithm must be one of SHA256, SHA384, SHA512",
    ),
    ("Heartbeat", [], False, FV, "payload is not a JSON object"),
    ("Heartbeat", None, True, FV, "payload is not a JSON object"),
    ("Heartbeat", "{}", False, FV, "payload is not a JSON object"),
    ("NoSuchAction", {}, False, CallErrorCode.NOT_IMPLEMENTED, "unknown action"),
    ("HeartbeatResponse", {}, False, CallErrorCode.NOT_IMPLEMENTED, "unknown action"),
]


@pytest.mark.parametrize(("action", "payload", "response", "code", "text"), INVALID_PAYLOADS)
@pytest.mark.parametrize("inbound", [False, True])
def test_invalid_payloads(
    action: str, payload: Any, response: bool, code: CallErrorCode, text: str, inbound: bool
) -> None:
    with pytest.raises(OcppCallError) as info:
        validate(action, payload, response=response, inbound=inbound)
    if inbound and not response and code != CallErrorCode.NOT_IMPLEMENTED:
        # A CSMS CALL that breaks its schema: libocpp's and the test tools' reading.
        code = CallErrorCode.FORMATION_VIOLATION
    assert info.value.code == code
    assert type(info.value.code) is str
    assert text in info.value.description
    # Descriptions are for humans on the other end: no Python reprs of lists, sets or dicts.
    assert not any(c in info.value.description for c in "{}'")


VALID_PAYLOADS: list[tuple[str, dict[str, Any], bool]] = [
    ("SetChargingProfile", _set_profile(21.4), False),
    (
        "SetChargingProfile",
        _set_profile(0.1 * 214, 0.1 * 3),
        False,
    ),  # 21.400000000000002, 0.30000000000000004
    ("SetChargingProfile", _set_profile(16, 6), False),
    ("SetChargingProfile", _set_profile(Decimal("21.4"), Decimal("6.0")), False),
    ("SetChargingProfile", _set_profile(-3.3), False),
    ("RemoteStartTransaction", {"idTag": "x" * 20, "chargingProfile": _profile(7.7, 1.1)}, False),
    (
        "GetCompositeSchedule",
        {
            "status": "Accepted",
            "connectorId": 1,
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.1}],
                "minChargingRate": 4.2,
            },
        },
        True,
    ),
    ("BootNotification", BOOT_RESPONSE, True),
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}, False),
    ("MeterValues", METER_VALUES, False),
    ("Heartbeat", {}, False),
    ("Heartbeat", {"currentTime": "2026-11-21T11:00:00+01:00"}, True),
    ("GetConfiguration", {"key": ["HeartbeatInterval"]}, False),
    ("GetConfiguration", {}, False),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, False),
    ("Reset", {"type": "Hard"}, False),
    ("GetInstalledCertificateIds", {"status": "NotFound"}, True),
    ("DataTransfer", {"vendorId": "v", "messageId": "m", "data": "anything"}, False),
]


@pytest.mark.parametrize(("action", "payload", "response"), VALID_PAYLOADS)
@pytest.mark.parametrize("inbound", [False, True])
def test_valid_payloads(
    action: str, payload: dict[str, Any], response: bool, inbound: bool
) -> None:
    before = copy.deepcopy(payload)
    validate(action, payload, response=response, inbound=inbound)
    assert payload == before  # never mutated (no defaults injected)


def test_multiple_of_tolerance_boundaries() -> None:
    assert 0.1 * 214 != 21.4  # the binary float problem this works around
    for good in (21.4, 0.1 * 214, 100.0, 0, 1e-8, 6553.5):
        validate("SetChargingProfile", _set_profile(good), response=False, inbound=True)
    for bad in (21.45, 21.41, 0.05, 1e-5, 6553.55):
        with pytest.raises(OcppCallError) as info:
            validate("SetChargingProfile", _set_profile(bad), response=False, inbound=True)
        assert info.value.code == CallErrorCode.FORMATION_VIOLATION  # a CSMS CALL
        with pytest.raises(OcppCallError) as info:
            validate("SetChargingProfile", _set_profile(bad), response=False, inbound=False)
        assert info.value.code == PCV


STRICT_OK = [
    "2026-11-21T11:00:00Z",
    "2026-11-21T11:00:00z",
    "2026-11-21t11:00:00Z",
    "2026-11-21T11:00:00.123+01:00",
    "2026-11-21T11:00:00.123456789-05:30",
    "2026-11-21T23:59:60Z",  # leap second
    "2028-02-29T00:00:00+00:00",
]
LENIENT_ONLY = ["2026-11-21T11:00:00", "2026-11-21T11:00:00.5"]
NEVER_OK = [
    "yesterday",
    "",
    "2026-11-21 11:00",
    "2026-11-21 11:00:00Z",
    "2026-11-21T11:00Z",
    "2026-11-21",
    "2026-11-21T11:00:00+0100",
    "2026-11-21T11:00:00+01",
    "2026-11-21T11:00:00.Z",
    "2026-13-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-11-31T00:00:00Z",
    "2026-11-21T24:00:00Z",
    "2026-11-21T11:60:00Z",
    "2026-11-21T11:00:61Z",
    "2026-11-21T11:00:00+24:00",
    "2026-11-21T11:00:00Z ",
    " 2026-11-21T11:00:00Z",
    "2026-11-21T11:00:00Z\n",
    "\uff12\uff10\uff12\uff16-11-21T11:00:00Z",  # fullwidth digits,
]


@pytest.mark.parametrize(
    ("value", "strict_ok", "lenient_ok"),
    [(v, True, True) for v in STRICT_OK]
    + [(v, False, True) for v in LENIENT_ONLY]
    + [(v, False, False) for v in NEVER_OK],
)
def test_date_time_strict_outbound_lenient_inbound(
    value: str, strict_ok: bool, lenient_ok: bool
) -> None:
    payload = {"status": "Accepted", "currentTime": value, "interval": 300}
    for inbound, ok in ((False, strict_ok), (True, lenient_ok)):
        if ok:
            validate("BootNotification", payload, response=True, inbound=inbound)
        else:
            with pytest.raises(OcppCallError) as info:
                validate("BootNotification", payload, response=True, inbound=inbound)
            assert info.value.code == PCV
            assert "data.currentTime must be an RFC 3339 date-time" in info.value.description


def test_date_time_in_draft06_schema_and_nested_items() -> None:
    log = {
        "log": {"remoteLocation": "ftp://x", "oldestTimestamp": "2026-11-21T11:00:00"},
        "logType": "DiagnosticsLog",
        "requestId": 1,
    }
    validate("GetLog", log, response=False, inbound=True)
    with pytest.raises(OcppCallError):
        validate("GetLog", log, response=False, inbound=False)
    meter = copy.deepcopy(METER_VALUES)
    meter["meterValue"].append(
        {"timestamp": "2026-11-21T11:00:00", "sampledValue": [{"value": "1"}]}
    )
    with pytest.raises(OcppCallError) as info:
        validate("MeterValues", meter, response=False, inbound=False)
    assert info.value.description.startswith("data.meterValue[1].timestamp ")


def test_unknown_action_is_not_implemented() -> None:
    with pytest.raises(OcppCallError) as info:
        validate("FooBar", {}, response=False, inbound=True)
    assert info.value.code == "NotImplemented"


def test_long_additional_property_names_are_capped() -> None:
    payload = {"type": "Soft", **{f"k{i}" + "z" * 500: i for i in range(10)}}
    with pytest.raises(OcppCallError) as info:
        validate("Reset", payload, response=False, inbound=True)
    assert info.value.code == FV
    assert len(info.value.description) < 400
    assert "(+5 more)" in info.value.description


def test_validate_random_payloads_only_raise_ocpp_call_error() -> None:
    rng = random.Random(1606)
    atoms: list[Any] = [None, True, 0, -1, 2**40, 1.5, 21.45, "", "Accepted", "x" * 300, [], {}]
    actions = sorted(KNOWN_ACTIONS)
    for _ in range(2000):
        action = rng.choice(actions)
        base = copy.deepcopy(rng.choice([p for _, p, _ in VALID_PAYLOADS] + [METER_VALUES]))
        for _ in range(rng.randint(1, 3)):
            target: Any = base
            while isinstance(target, dict | list) and target and rng.random() < 0.6:
                key = (
                    rng.choice(list(target))
                    if isinstance(target, dict)
                    else rng.randrange(len(target))
                )
                if not isinstance(target[key], dict | list):
                    break
                target = target[key]
            if isinstance(target, dict):
                target[rng.choice([*target, "extra"]) if target else "k"] = rng.choice(atoms)
            elif isinstance(target, list):
                target.append(rng.choice(atoms))
        error: OcppCallError | None = None
        try:
            validate(action, base, response=rng.random() < 0.5, inbound=rng.random() < 0.5)
        except OcppCallError as err:
            error = err
        if error is not None:
            assert error.code in set(CallErrorCode)
            assert error.description


# ------------------------------------------------------------------------------------------
# Robustness: random and mutated frames
# ------------------------------------------------------------------------------------------

SEED_FRAMES = [
    encode_call("123", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    encode_call("abc", "MeterValues", METER_VALUES),
    encode_call("x1", "SetChargingProfile", _set_profile(21.4)),
    encode_call_result("r", BOOT_RESPONSE),
    encode_call_error("e", "GenericError", "bad", {"a": [1, 2]}),
    '[2,"ü😀","DataTransfer",{"vendorId":"\\ud83d\\ude00"}]',
]
FRAGMENTS = [
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    '"',
    "\\",
    "\\u",
    "\\ud800",
    "2",
    "3",
    "4",
    "5",
    "-",
    "1e999",
    "\ud800",  # a real lone surrogate, not an escape
    "\\udc00",
    "NaN",
    "null",
    "true",
    "0.1",
    "😀",
    "\x00",
    " ",
    "[2,",
    '"id"',
]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, 2, 3, 4, 5, -2, 2**70, 2.0, 3.5, -0.0])
    if kind in (3, 4, 5):
        return "".join(rng.choice('ab2"\\/é😀\n ') for _ in range(rng.randrange(40)))
    if kind in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {
        str(_random_json(rng, depth + 1))[:10]: _random_json(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def _mutate(rng: random.Random, text: str) -> str | bytes:
    choice = rng.randrange(8)
    if choice == 0 and text:  # truncate
        return text[: rng.randrange(len(text))]
    if choice == 1 and text:  # delete a slice
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 8) :]
    if choice == 2:  # insert a fragment
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(FRAGMENTS) + text[i:]
    if choice == 3 and text:  # replace one character
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(FRAGMENTS) + text[i + 1 :]
    if choice == 4:  # flip a byte
        data = bytearray(text.encode("utf-8", "surrogatepass"))
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if choice == 5:  # swap the message type id
        return text.replace(
            text[1:2], rng.choice(["2", "3", "4", "5", '"2"', "null", "2.0", "[]"]), 1
        )
    if choice == 6:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
    return json.dumps(_random_json(rng))


def _outcome(raw: str | bytes, max_bytes: int) -> frames.Frame | BadFrame:
    try:
        return parse_frame(raw, max_bytes=max_bytes)
    except BadFrame as err:
        return err


def _check_outcome(outcome: frames.Frame | BadFrame) -> None:
    if isinstance(outcome, BadFrame):
        assert outcome.code in (GE, FV)
        assert outcome.description
        if outcome.unique_id is not None:
            # Whatever we answer must be sendable as UTF-8 text.
            encode_call_error(outcome.unique_id, outcome.code, outcome.description).encode()
        return
    assert isinstance(outcome, Call | CallResult | CallError)
    assert isinstance(outcome.unique_id, str)
    assert 1 <= len(outcome.unique_id) <= 36
    if isinstance(outcome, Call):
        assert isinstance(outcome.action, str)
        assert isinstance(outcome.payload, dict)
        encode_call_result(outcome.unique_id, outcome.payload).encode()
    elif isinstance(outcome, CallResult):
        assert isinstance(outcome.payload, dict)
        encode_call_result(outcome.unique_id, outcome.payload).encode()
    else:
        assert isinstance(outcome.code, str)
        assert isinstance(outcome.description, str)
        assert isinstance(outcome.details, dict)


def test_random_and_mutated_frames_only_give_frames_or_bad_frame() -> None:
    rng = random.Random(20261121)
    outcomes = {"frame": 0, "answer": 0, "drop": 0, "oversized": 0}
    for _ in range(5000):
        raw: str | bytes = rng.choice(SEED_FRAMES)
        for _ in range(rng.randint(1, 3)):
            raw = _mutate(rng, raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        if rng.random() < 0.3 and isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        max_bytes = rng.choice([4096, 4096, 4096, 48])
        outcome = _outcome(raw, max_bytes)
        _check_outcome(outcome)
        if not isinstance(outcome, BadFrame):
            outcomes["frame"] += 1
        elif "byte limit" in outcome.description:
            outcomes["oversized"] += 1
        else:
            outcomes["answer" if outcome.unique_id is not None else "drop"] += 1
    # The corpus must actually exercise every outcome.
    assert all(count > 100 for count in outcomes.values()), outcomes


def test_parse_frame_rejects_non_text_input() -> None:
    with pytest.raises(BadFrame) as info:
        parse_frame(123)  # type: ignore[arg-type]
    assert info.value.unique_id is None
    assert parse_frame(bytearray(b'[3,"1",{}]')) == CallResult("1", {})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Schema loading, action sets, library state
# ------------------------------------------------------------------------------------------


def test_action_sets() -> None:
    assert len(KNOWN_ACTIONS) >= 28
    assert {
        "BootNotification",
        "MeterValues",
        "Heartbeat",
        "DataTransfer",
        "GetLog",
    } <= KNOWN_ACTIONS
    assert CSMS_TO_CP_ACTIONS <= KNOWN_ACTIONS
    assert {
        "Reset",
        "RemoteStartTransaction",
        "SetChargingProfile",
        "TriggerMessage",
        "DataTransfer",
        "ExtendedTriggerMessage",
        "InstallCertificate",
    } <= CSMS_TO_CP_ACTIONS
    assert (
        not {
            "BootNotification",
            "MeterValues",
            "Heartbeat",
            "StatusNotification",
            "SignCertificate",
        }
        & CSMS_TO_CP_ACTIONS
    )


def test_load_validators_compiles_every_schema_and_is_idempotent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(validation, "_validators", {})
    monkeypatch.setattr(validation, "_all_loaded", False)
    calls: list[str] = []
    real_read = validation._read_schema

    def counting_read(name: str) -> dict[str, Any] | None:
        calls.append(name)
        return real_read(name)

    monkeypatch.setattr(validation, "_read_schema", counting_read)
    threads = [threading.Thread(target=load_validators) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_validators()
    assert sorted(calls) == sorted({f"{a}{s}" for a in KNOWN_ACTIONS for s in ("", "Response")})
    for action in KNOWN_ACTIONS:
        for response in (False, True):
            for lenient in (False, True):
                name = f"{action}Response" if response else action
                assert validation._validators[name, lenient] is not None, name


def test_lazy_compile_without_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "_validators", {})
    monkeypatch.setattr(validation, "_all_loaded", False)
    validate("Heartbeat", {}, response=False, inbound=False)
    assert set(validation._validators) == {("Heartbeat", False), ("Heartbeat", True)}
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            validate("MeterValues", METER_VALUES, response=False, inbound=True)
        except BaseException as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert validation._validators["MeterValues", True] is not None


def test_library_settings_untouched() -> None:
    before = (ocpp.messages.ASYNC_VALIDATION, dict(ocpp.messages._validators))
    load_validators()
    validate("MeterValues", METER_VALUES, response=False, inbound=False)
    assert (ocpp.messages.ASYNC_VALIDATION, dict(ocpp.messages._validators)) == before


def test_errors_carry_plain_strings() -> None:
    err = OcppCallError(CallErrorCode.NOT_SUPPORTED, "no")
    assert err.code == "NotSupported"
    assert type(err.code) is str
    assert err.details == {}
    assert OcppCallError("SomethingElse").code == "SomethingElse"
    bad = BadFrame(CallErrorCode.GENERIC_ERROR, "x", "id")
    assert (bad.code, bad.description, bad.unique_id) == ("GenericError", "x", "id")
    assert [c.value for c in CallErrorCode] == [
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    ]
