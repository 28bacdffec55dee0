"""OCPP-J 1.6 frame codec: parse and encode frames, validate payloads against the 1.6 schemas.

Why not the ``ocpp`` library's own path: it validates with jsonschema's interpreted
Draft4Validator in a thread executor (about 1 ms per MeterValues) and answers with OCPP 2.0
error spellings (``FormatViolation``) and swapped NotImplemented/NotSupported. Here the very
same schema files shipped in ``ocpp/v16/schemas`` are compiled once with fastjsonschema and
validation failures map to the OCPP-J 1.6 CALLERROR codes. Nothing in the ``ocpp`` library's
module-level state is touched, because other integrations in the same Home Assistant share it.

This module deliberately depends on the standard library, ``ocpp`` and ``fastjsonschema`` only.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.resources
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import fastjsonschema
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


def _dumps(message: list[Any]) -> str:
    """Compact JSON; NaN/Infinity raise ValueError because they are not JSON."""
    return json.dumps(
        message,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


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


# --------------------------------------------------------------------------------------------
# Date-time formats
# --------------------------------------------------------------------------------------------

# re.ASCII: without it \d also matches non-ASCII digits such as fullwidth ones.
_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:([Zz])|[+-](\d{2}):(\d{2}))?",
    re.ASCII,
)


def _date_time_ok(value: str, *, offset_required: bool) -> bool:
    """RFC 3339 ``date-time`` with real calendar ranges; the offset may be optional."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, zulu, off_h, off_m = match.groups()
    if offset_required and zulu is None and off_h is None:
        return False
    if off_h is not None and (int(off_h) > 23 or int(off_m) > 59):
        return False
    try:
        # Second 60 is a legal RFC 3339 leap second; datetime cannot hold it, so check 59.
        dt.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    return int(second) <= 60


def _strict_date_time(value: str) -> bool:
    """Outbound: RFC 3339 with ``Z`` or a numeric offset."""
    return _date_time_ok(value, offset_required=True)


def _lenient_date_time(value: str) -> bool:
    """Inbound: some central systems omit the offset; such a value is read as UTC."""
    return _date_time_ok(value, offset_required=False)


_STRICT_FORMATS: Final[dict[str, Callable[[str], bool]]] = {"date-time": _strict_date_time}
_LENIENT_FORMATS: Final[dict[str, Callable[[str], bool]]] = {"date-time": _lenient_date_time}


# --------------------------------------------------------------------------------------------
# Schema loading and compilation
# --------------------------------------------------------------------------------------------

_ITEM: Final = object()
"""Path step meaning 'every element of this array'."""

type _PathStep = str | object
type _MultipleOfRule = tuple[tuple[_PathStep, ...], float]


@dataclass(frozen=True, slots=True)
class _Validator:
    """One compiled schema plus the multipleOf constraints we check ourselves."""

    check: Callable[[Any], Any]
    multiple_of: tuple[_MultipleOfRule, ...]


_lock = threading.Lock()
_validators: dict[tuple[str, bool], _Validator | None] = {}
"""(schema name, lenient) -> validator; None caches 'no schema file for this name'."""
_all_loaded = False


def _schema_name(action: str, response: bool) -> str:
    return f"{action}Response" if response else action


def _read_schema(name: str) -> dict[str, Any] | None:
    """The schema from the ``ocpp`` package, or None when it ships no such file."""
    resource = importlib.resources.files("ocpp.v16").joinpath("schemas", f"{name}.json")
    try:
        text = resource.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, NotADirectoryError):
        return None
    schema: dict[str, Any] = json.loads(text)
    return schema


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """Local ``#/definitions/...`` references only; the 1.6 schemas use nothing else."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def _extract_multiple_of(schema: dict[str, Any]) -> tuple[_MultipleOfRule, ...]:
    """Remove every reachable ``multipleOf`` from ``schema`` (in place) and return where it was.

    A float multipleOf such as 0.1 cannot be checked exactly on binary floats (0.1 * 214 is
    21.400000000000002), so we check those with a tolerance ourselves. Only keywords on the
    ``properties``/``items``/``$ref`` paths are moved; anything else stays with fastjsonschema.
    """
    rules: list[_MultipleOfRule] = []
    removed: dict[int, float] = {}

    def walk(node: dict[str, Any], path: tuple[_PathStep, ...], stack: frozenset[int]) -> None:
        if id(node) in stack or len(path) > 32:
            return
        stack = stack | {id(node)}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = _resolve_ref(schema, ref)
            if target is not None:
                walk(target, path, stack)
        step = node.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            removed[id(node)] = float(step)
            del node["multipleOf"]
        if id(node) in removed:
            rules.append((path, removed[id(node)]))
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict):
                    walk(sub, (*path, key), stack)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, (*path, _ITEM), stack)

    walk(schema, (), frozenset())
    return tuple(rules)


def _has_date_time(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("format") == "date-time" or any(_has_date_time(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_date_time(v) for v in node)
    return False


def _compile_locked(name: str) -> None:
    """Compile both variants of one schema into the cache; caller holds ``_lock``."""
    if (name, False) in _validators:
        return
    schema = _read_schema(name)
    if schema is None:
        _validators[name, False] = _validators[name, True] = None
        return
    multiple_of = _extract_multiple_of(schema)

    def build(formats: dict[str, Callable[[str], bool]]) -> _Validator:
        # A fresh copy each time: fastjsonschema keeps references into the definition.
        check = fastjsonschema.compile(copy.deepcopy(schema), formats=formats, use_default=False)
        return _Validator(check, multiple_of)

    strict = build(_STRICT_FORMATS)
    _validators[name, False] = strict
    _validators[name, True] = build(_LENIENT_FORMATS) if _has_date_time(schema) else strict


def _get_validator(name: str, lenient: bool) -> _Validator | None:
    try:
        return _validators[name, lenient]
    except KeyError:
        pass
    with _lock:
        _compile_locked(name)
        return _validators[name, lenient]


def load_validators() -> None:
    """Compile every 1.6 schema now. Blocking (reads files): run once in an executor."""
    global _all_loaded  # noqa: PLW0603 - a one-way flag guarded by _lock
    if _all_loaded:
        return
    with _lock:
        if _all_loaded:
            return
        for action in sorted(KNOWN_ACTIONS):
            for response in (False, True):
                _compile_locked(_schema_name(action, response))
        _all_loaded = True


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_RULE_CODES: Final[dict[str, CallErrorCode]] = {
    "additionalProperties": CallErrorCode.FORMATION_VIOLATION,
    "required": CallErrorCode.PROTOCOL_ERROR,
    "type": CallErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "enum": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "const": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMaximum": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMinimum": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


def _names(values: Any, limit: int = 5) -> str:
    """Comma-separated, length-capped list for descriptions (payload keys can be anything)."""
    items = [str(v) if len(str(v)) <= 40 else str(v)[:37] + "..." for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _describe(err: fastjsonschema.JsonSchemaValueException, inbound: bool) -> str:
    """A readable description naming the field; fastjsonschema's own messages embed reprs."""
    name: str = err.name or "data"
    rule: str | None = err.rule
    spec: Any = err.rule_definition
    value: Any = err.value
    if rule == "required" and isinstance(spec, list) and isinstance(value, dict):
        return f"payload incomplete: {name} lacks {_names(k for k in spec if k not in value)}"
    if rule == "additionalProperties" and isinstance(value, dict):
        known = err.definition.get("properties", {}) if isinstance(err.definition, dict) else {}
        extra = sorted(str(k) for k in value if k not in known)
        return f"{name} has unexpected properties: {_names(extra)}"
    if rule == "type":
        types = spec if isinstance(spec, list) else [spec]
        return f"{name} must be {' or '.join(str(t) for t in types)}"
    if rule == "enum" and isinstance(spec, list):
        return f"{name} must be one of {_names(spec, limit=30)}"
    if rule == "format":
        if spec == "date-time":
            offset = "with an optional UTC offset" if inbound else "with Z or a UTC offset"
            return f"{name} must be an RFC 3339 date-time {offset}"
        return f"{name} must be {spec}"
    if rule in ("maxLength", "minLength", "maximum", "minimum", "minItems", "maxItems"):
        return {
            "maxLength": f"{name} must be shorter than or equal to {spec} characters",
            "minLength": f"{name} must be longer than or equal to {spec} characters",
            "maximum": f"{name} must be smaller than or equal to {spec}",
            "minimum": f"{name} must be bigger than or equal to {spec}",
            "minItems": f"{name} must contain at least {spec} items",
            "maxItems": f"{name} must contain at most {spec} items",
        }[rule]
    if rule == "pattern":
        return f"{name} must match pattern {spec}"
    return f"{name} violates the schema rule {rule}"


def _walk(node: Any, path: tuple[_PathStep, ...], name: str) -> Iterator[tuple[str, Any]]:
    """Every (name, value) found at ``path``; missing keys simply yield nothing."""
    if not path:
        yield name, node
        return
    step, rest = path[0], path[1:]
    if step is _ITEM:
        if isinstance(node, list):
            for index, element in enumerate(node):
                yield from _walk(element, rest, f"{name}[{index}]")
    elif isinstance(node, dict) and isinstance(step, str) and step in node:
        yield from _walk(node[step], rest, f"{name}.{step}")


def _is_multiple(value: float, step: float) -> bool:
    """Tolerant multipleOf: 21.4 is a multiple of 0.1 even though 21.4 / 0.1 != 214.0."""
    quotient = value / step
    return math.isfinite(quotient) and abs(quotient - round(quotient)) < 1e-6


def _check_multiple_of(payload: dict[str, Any], rules: tuple[_MultipleOfRule, ...]) -> None:
    for path, step in rules:
        for name, value in _walk(payload, path, "data"):
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                continue  # the compiled schema has already rejected wrong types
            number = float(value)
            if not math.isfinite(number) or not _is_multiple(number, step):
                raise OcppCallError(
                    CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"{name} must be a multiple of {step:g}",
                )


def validate(action: str, payload: Any, *, response: bool, inbound: bool) -> None:
    """Check a payload against the 1.6 schema; raise OcppCallError with the 1.6 code if not.

    ``response`` picks ``<Action>Response.json``; ``inbound`` (from the CSMS) accepts
    date-times without an offset, outbound ones must carry Z or an offset.
    """
    if action not in KNOWN_ACTIONS:
        raise OcppCallError(CallErrorCode.NOT_IMPLEMENTED, f"unknown action {_brief(action)}")
    if not isinstance(payload, dict):
        raise OcppCallError(CallErrorCode.FORMATION_VIOLATION, "payload is not a JSON object")
    validator = _get_validator(_schema_name(action, response), inbound)
    if validator is None:
        raise OcppCallError(CallErrorCode.NOT_IMPLEMENTED, f"no 1.6 schema for {action}")
    try:
        validator.check(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        code = _RULE_CODES.get(err.rule or "", CallErrorCode.FORMATION_VIOLATION)
        raise OcppCallError(code, _describe(err, inbound)) from None
    except (TypeError, ValueError, RecursionError) as err:
        # Only reachable with non-JSON Python objects (e.g. odd dict keys) handed in by us.
        raise OcppCallError(
            CallErrorCode.FORMATION_VIOLATION, f"payload cannot be validated: {type(err).__name__}"
        ) from None
    if validator.multiple_of:
        _check_multiple_of(payload, validator.multiple_of)
