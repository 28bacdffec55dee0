"""OCPP-J 1.6 payload validation against the 1.6 schemas, with the 1.6 CALLERROR codes.

Why not the ``ocpp`` library's own path: it validates with jsonschema's interpreted
Draft4Validator in a thread executor (about 1 ms per MeterValues) and answers with OCPP 2.0
error spellings (``FormatViolation``) and swapped NotImplemented/NotSupported. Here the very
same schema files shipped in ``ocpp/v16/schemas`` are compiled once with fastjsonschema and
validation failures map to the OCPP-J 1.6 CALLERROR codes. Nothing in the ``ocpp`` library's
module-level state is touched, because other integrations in the same Home Assistant share it.

This module deliberately depends on the standard library, ``ocpp`` and ``fastjsonschema`` only.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.resources
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import fastjsonschema

from ..timestamps import parse_rfc3339
from .frames import KNOWN_ACTIONS, CallErrorCode, OcppCallError, _brief

# --------------------------------------------------------------------------------------------
# Date-time formats
# --------------------------------------------------------------------------------------------


def _date_time_ok(value: str, *, offset_required: bool) -> bool:
    """RFC 3339 ``date-time`` with real calendar ranges; the offset may be optional."""
    return parse_rfc3339(value, offset_required=offset_required) is not None


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


def load_validators(actions: Iterable[str] | None = None) -> None:
    """Compile the schemas of ``actions`` (default: every 1.6 action) now.

    Blocking (reads files, about 5 ms a schema): run it in an executor. Each compiled schema
    costs memory for the life of the process, so the engine compiles those it sends at start
    and the others when a CSMS first uses them (``ensure_validators``).
    """
    global _all_loaded  # noqa: PLW0603 - a one-way flag guarded by _lock
    if _all_loaded:
        return
    with _lock:
        if _all_loaded:
            return
        for action in sorted(KNOWN_ACTIONS if actions is None else set(actions)):
            for response in (False, True):
                _compile_locked(_schema_name(action, response))
        if actions is None:
            _all_loaded = True


def _compiled(action: str) -> bool:
    return (_schema_name(action, False), False) in _validators and (
        _schema_name(action, True),
        False,
    ) in _validators


_ready: set[str] = set()


async def ensure_validators(action: str) -> None:
    """Compile an action's schemas off the event loop unless they already are."""
    if action in _ready or _all_loaded:
        return
    if action in KNOWN_ACTIONS and not _compiled(action):
        await asyncio.get_running_loop().run_in_executor(None, load_validators, (action,))
    _ready.add(action)


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
        if inbound and not response:
            # A CSMS CALL that breaks its schema: FormationViolation, as libocpp and the
            # conformance tools read the OCPP-J table (the finer codes describe our own).
            code = CallErrorCode.FORMATION_VIOLATION
        raise OcppCallError(code, _describe(err, inbound)) from None
    except (TypeError, ValueError, RecursionError) as err:
        # Only reachable with non-JSON Python objects (e.g. odd dict keys) handed in by us.
        raise OcppCallError(
            CallErrorCode.FORMATION_VIOLATION, f"payload cannot be validated: {type(err).__name__}"
        ) from None
    if validator.multiple_of:
        try:
            _check_multiple_of(payload, validator.multiple_of)
        except OcppCallError as err:
            if inbound and not response:
                raise OcppCallError(CallErrorCode.FORMATION_VIOLATION, err.description) from None
            raise
