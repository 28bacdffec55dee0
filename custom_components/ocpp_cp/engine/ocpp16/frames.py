"""OCPP-J 1.6 frame codec: parse and encode frames, CALLERROR codes, malformed-frame handling.

A frame is a ``Call``, ``CallResult`` or ``CallError``; ``parse_frame`` turns one WebSocket
message into one of them or raises ``BadFrame`` (answered with a CALLERROR when the id of a CALL
can be recovered, else dropped). Error codes are spelled as OCPP-J 1.6 section 4.2.3 lists them,
not with the ``ocpp`` library's OCPP 2.0 spellings. Payload validation against the 1.6 schemas
lives in ``validation``.

This module deliberately depends on the standard library and ``ocpp`` only.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from ocpp.v16.enums import Action

MAX_FRAME_BYTES: int = 256 * 1024
"""Largest frame we parse; a bigger one is refused before any JSON parsing."""

MAX_UNIQUE_ID_LENGTH: Final = 36
"""OCPP-J 1.6 section 4.1.3: the unique id is a string of at most 36 characters."""

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4


class CallErrorCode(StrEnum):
    """CALLERROR codes spelled exactly as OCPP-J 1.6 section 4.2.3 lists them."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # sic, the 1.6 spelling
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OcppCallError(Exception):
    """A call that must be answered with a CALLERROR (or a CALLERROR we received)."""

    def __init__(
        self,
        code: CallErrorCode | str,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        # Plain str, so a received 2.0-style code and our enum compare and encode alike.
        self.code: str = str(code)
        self.description: str = description
        self.details: dict[str, Any] = details if details is not None else {}
        super().__init__(f"{self.code}: {description}" if description else self.code)


class BadFrame(Exception):
    """A frame that is not a well-formed OCPP-J message.

    ``unique_id`` is set when the frame was recognisably a CALL whose id we could recover:
    the caller answers it with a CALLERROR. ``None`` means log and drop, because there is
    nobody to answer (or answering a response would start an error ping-pong).
    """

    def __init__(self, code: CallErrorCode | str, description: str, unique_id: str | None) -> None:
        self.code: str = str(code)
        self.description: str = description
        self.unique_id: str | None = unique_id
        super().__init__(f"{self.code}: {description}")


@dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, uniqueId, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: ``[3, uniqueId, payload]``."""

    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """An error answer: ``[4, uniqueId, errorCode, errorDescription, errorDetails]``."""

    unique_id: str
    code: str
    description: str
    details: dict[str, Any]


type Frame = Call | CallResult | CallError

KNOWN_ACTIONS: frozenset[str] = frozenset(action.value for action in Action)
"""Every OCPP 1.6 action the ``ocpp`` library knows, security whitepaper ones included."""

_CSMS_TO_CP_CANDIDATES: Final = (
    # OCPP 1.6 core, firmware, local list, reservation, smart charging, remote trigger.
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    # Security whitepaper edition 2.
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
)
_CP_TO_CSMS_CANDIDATES: Final = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    # Security whitepaper edition 2.
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
)

CSMS_TO_CP_ACTIONS: frozenset[str] = frozenset(_CSMS_TO_CP_CANDIDATES) & KNOWN_ACTIONS
"""Actions a central system may call on a charge point (only those the library knows)."""

CP_TO_CSMS_ACTIONS: frozenset[str] = frozenset(_CP_TO_CSMS_CANDIDATES) & KNOWN_ACTIONS
"""Actions a charge point may call on a central system (only those the library knows)."""


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    """Encode Decimal as a JSON number; refuse everything json cannot encode natively."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite number {value} is not valid JSON")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECIMAL_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)


def _dumps(message: list[Any]) -> str:
    """Compact JSON; NaN/Infinity raise ValueError because they are not JSON.

    The plain encoder first (a quarter faster); Decimal values, rare, take the second try.
    """
    try:
        return _ENCODER.encode(message)
    except TypeError:
        return _DECIMAL_ENCODER.encode(message)


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Serialise a CALL frame."""
    return _dumps([CALL, unique_id, action, payload])


def encode_call_result(unique_id: str, payload: dict[str, Any]) -> str:
    """Serialise a CALLRESULT frame."""
    return _dumps([CALLRESULT, unique_id, payload])


def encode_call_error(
    unique_id: str,
    code: str,
    description: str = "",
    details: dict[str, Any] | None = None,
) -> str:
    """Serialise a CALLERROR frame (details default to the empty object the spec requires)."""
    return _dumps([CALLERROR, unique_id, str(code), description, details or {}])


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

# Recover the id of a CALL from its first bytes, without parsing the (oversized) frame.
# JSON whitespace is only space, tab, LF and CR (\s would also match Unicode spaces).
_OVERSIZE_ID_STR: Final = re.compile(
    r'\A[ \t\n\r]*\[[ \t\n\r]*2[ \t\n\r]*,[ \t\n\r]*"([^"\\\x00-\x1f]{1,36})"'
)
_OVERSIZE_ID_BYTES: Final = re.compile(
    rb'\A[ \t\n\r]*\[[ \t\n\r]*2[ \t\n\r]*,[ \t\n\r]*"([^"\\\x00-\x1f]{1,144})"'
)
_OVERSIZE_PREFIX: Final = 200
# A \uD800-\uDFFF escape may decode to a lone surrogate that can never be sent back as UTF-8.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


class _NotJson(ValueError):
    """JSON extensions Python accepts but the JSON spec does not (NaN, Infinity)."""


class _NonFiniteNumber(ValueError):
    """A syntactically valid JSON number that overflows a float (1e400)."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFiniteNumber(f"number {text[:40]} is out of range")
    return value


# Built once: json.loads with keyword arguments would construct a new decoder per frame.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)


def _encodable(text: str) -> bool:
    """True unless the string holds a lone surrogate (which cannot go out as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _recover_call_id(raw: str | bytes) -> str | None:
    """The id of a ``[2,"<id>"`` frame, from its prefix only, or None."""
    if isinstance(raw, bytes):
        match_b = _OVERSIZE_ID_BYTES.match(raw[:_OVERSIZE_PREFIX])
        if match_b is None:
            return None
        try:
            found = match_b.group(1).decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        match_s = _OVERSIZE_ID_STR.match(raw[:_OVERSIZE_PREFIX])
        if match_s is None:
            return None
        found = match_s.group(1)
    if len(found) > MAX_UNIQUE_ID_LENGTH or not _encodable(found):
        return None
    return found


def _utf8_size(text: str) -> int:
    """Byte length of ``text`` as UTF-8 (surrogates counted, never raising)."""
    return len(text.encode("utf-8", "surrogatepass"))


def parse_frame(raw: str | bytes, max_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """Turn one WebSocket message into a Frame; anything malformed raises BadFrame only."""
    # Size first, so an oversized frame is never decoded or parsed.
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw)
        size = len(raw)
    elif isinstance(raw, str):
        # A character is 1 to 4 bytes: only count exactly when the bound is inconclusive.
        size = len(raw) if 4 * len(raw) <= max_bytes else _utf8_size(raw)
    else:
        raise BadFrame(
            CallErrorCode.FORMATION_VIOLATION, f"frame of type {type(raw).__name__}", None
        )
    if size > max_bytes:
        raise BadFrame(
            CallErrorCode.GENERIC_ERROR,
            f"frame of {size} bytes exceeds the {max_bytes} byte limit",
            _recover_call_id(raw),
        )

    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "frame is not UTF-8", None) from None
    else:
        text = raw
        if not _encodable(text):
            raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "frame is not UTF-8", None)

    try:
        message = _DECODER.decode(text)
    except _NonFiniteNumber as err:
        # Valid JSON we cannot represent: answer a recognisable CALL, drop anything else.
        raise BadFrame(
            CallErrorCode.FORMATION_VIOLATION, str(err), _recover_call_id(text)
        ) from None
    except (ValueError, RecursionError, MemoryError):
        # JSONDecodeError, _NotJson, huge integers (int digit limit), absurd nesting.
        raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "frame is not JSON", None) from None

    if not isinstance(message, list) or not message:
        raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "frame is not a JSON array", None)

    # Valid surrogate pairs are joined by the decoder; only lone ones survive to this point.
    lone_surrogate = (
        "\\u" in text
        and _SURROGATE_ESCAPE.search(text) is not None
        and not _encodable(json.dumps(message, ensure_ascii=False))
    )

    type_id = message[0]
    # type() is exact on purpose: True == 1 and 2.0 == 2 in Python, but not in OCPP-J.
    if type(type_id) is int and type_id in (CALLRESULT, CALLERROR):
        return _parse_response(message, type_id, lone_surrogate)

    unique_id = message[1] if len(message) > 1 else None
    if not isinstance(unique_id, str) or not _encodable(unique_id):
        raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "frame has no usable unique id", None)
    if type(type_id) is not int or type_id != CALL:
        raise BadFrame(
            CallErrorCode.GENERIC_ERROR, f"unknown message type id {_brief(type_id)}", unique_id
        )
    if not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise BadFrame(
            CallErrorCode.GENERIC_ERROR,
            f"unique id must be 1 to {MAX_UNIQUE_ID_LENGTH} characters, got {len(unique_id)}",
            unique_id,
        )
    if len(message) != 4:
        raise BadFrame(
            CallErrorCode.GENERIC_ERROR,
            f"a CALL has 4 elements, this one has {len(message)}",
            unique_id,
        )
    action, payload = message[2], message[3]
    if not isinstance(action, str):
        raise BadFrame(CallErrorCode.GENERIC_ERROR, "action is not a string", unique_id)
    if not isinstance(payload, dict):
        raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "payload is not a JSON object", unique_id)
    if lone_surrogate:
        raise BadFrame(
            CallErrorCode.FORMATION_VIOLATION,
            "payload holds an unpaired UTF-16 surrogate",
            unique_id,
        )
    return Call(unique_id, action, payload)


def _parse_response(message: list[Any], type_id: int, lone_surrogate: bool) -> Frame:
    """CALLRESULT/CALLERROR; malformed ones are dropped, never answered (that would loop)."""
    unique_id = message[1] if len(message) > 1 else None
    if not isinstance(unique_id, str) or not 0 < len(unique_id) <= MAX_UNIQUE_ID_LENGTH:
        raise BadFrame(CallErrorCode.FORMATION_VIOLATION, "response has a bad unique id", None)
    if lone_surrogate:
        raise BadFrame(
            CallErrorCode.FORMATION_VIOLATION, "response holds an unpaired UTF-16 surrogate", None
        )
    if type_id == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise BadFrame(
                CallErrorCode.FORMATION_VIOLATION,
                f"malformed CALLRESULT for {unique_id}",
                None,
            )
        return CallResult(unique_id, message[2])
    if (
        len(message) != 5
        or not isinstance(message[2], str)
        or not isinstance(message[3], str)
        or not isinstance(message[4], dict)
    ):
        raise BadFrame(
            CallErrorCode.FORMATION_VIOLATION, f"malformed CALLERROR for {unique_id}", None
        )
    return CallError(unique_id, message[2], message[3], message[4])


def _brief(value: Any) -> str:
    """A short JSON rendering of a value for descriptions (never a Python repr)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


SECRET_KEY = "authorizationkey"
# The value up to its closing quote, or to the end of a frame cut short for display.
_SECRET_VALUE = re.compile(r'("value"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?$)')


# A password in a URL (GetDiagnostics/UpdateFirmware locations: ftp://user:password@host/).
_URL_PASSWORD = re.compile(r'([A-Za-z][A-Za-z0-9+.-]*://[^/\s"@:]*):[^/\s"]*@')
# An HTTP Basic credential (an Authorization header in a log line or a DataTransfer).
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/=]{4,}")


def redact(text: str) -> str:
    """A frame or log line as it may be shown or leave the charge point: a ChangeConfiguration
    of the AuthorizationKey has its value replaced by ***, a password in a URL and a Basic
    credential too. Text without any of them comes back unchanged, cheaply."""
    if "@" in text:
        text = _URL_PASSWORD.sub(r"\1:***@", text)
    if "Basic" in text:
        text = _BASIC.sub(r"\1***", text)
    if SECRET_KEY not in text.lower():
        return text
    return _SECRET_VALUE.sub(r'\1"***"', text)
