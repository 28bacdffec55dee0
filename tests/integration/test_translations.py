"""Translations and icons, checked the way hassfest and Home Assistant's own loaders see them.

- Every translation file (strings.json, en, de, nl, fr, es) passes a hassfest-like schema:
  only known categories, valid translation keys, no HTML, no URLs, no [%key:...%] references
  (only core integrations get those resolved), placeholders that are identifiers and not
  quoted, no placeholders in entity states, data_description only for fields with a label,
  issues with a title and a description, services with name and description for each field.
- strings.json is translations/en.json; the other languages have exactly the English keys and,
  key by key, exactly the English placeholders (Home Assistant drops a string whose placeholders
  differ from English and shows English instead).
- Home Assistant's translation loader (helpers.translation.async_get_translations) and icon
  loader (helpers.icon.async_get_icons) return exactly what the files hold, for every
  category and language, without logging an error.
- Every key the code uses has its text in en.json, in the right place, and every text in
  en.json is used (read from the source with ast, not by hand):
  entity translation_key (entity.<platform>.<key>.name, platform from the module name, ENUM
  sensor options = state keys, an icons.json entry each), exceptions raised with a
  translation_key (exceptions.<key>.message, placeholders given = placeholders used), repair
  issues (issues.<key>.title/description, same placeholder check), config and options flows
  (each step shown has <section>.step.<id>, its schema fields = step data, every form error
  and abort reason, menu options, the placeholders each step's texts and errors need are given
  as description_placeholders), select selectors with a translation_key (in the flows and in
  services.yaml: selector.<key>.options = the options), and services (services.yaml = the
  services registered in code = services.<name> with every field, and an icon each).
"""

from __future__ import annotations

import ast
import importlib
import json
import logging
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import voluptuous as vol
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.icon import async_get_icons
from homeassistant.helpers.selector import SelectSelector
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util.yaml import load_yaml_dict
from voluptuous.humanize import humanize_error

import custom_components.ocpp_cp as integration
from custom_components.ocpp_cp.const import DOMAIN

COMPONENT = Path(integration.__file__).parent
TRANSLATIONS = COMPONENT / "translations"
LANGUAGES = ("en", "de", "nl", "fr", "es")
OTHER_LANGUAGES = tuple(language for language in LANGUAGES if language != "en")
PLATFORMS = {platform.value for platform in Platform}


# -- files -----------------------------------------------------------------------------------------


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def strings(language: str) -> dict[str, Any]:
    return load_json(TRANSLATIONS / f"{language}.json")


def english() -> dict[str, Any]:
    return strings("en")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": "x"}} -> {"a.b": "x"}, the way Home Assistant flattens translations."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def placeholders(text: str) -> set[str]:
    """The {names} in a text, parsed like Home Assistant does (string.Formatter)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def report(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n" + "\n".join(sorted(set(problems))), pytrace=False)


# -- a hassfest-like schema for translation files --------------------------------------------------

_KEY = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_QUOTED_PLACEHOLDER = re.compile(r"'\{\w*\}'")
_REFERENCE = re.compile(r"\[%key:")
# The URL schemes hassfest refuses in texts (ws:// and wss:// are not among them, so the CSMS
# URL examples are fine).
_URL = re.compile(
    r"(?:\b(?:https?|ftps?|scp|mqtts?|socket|socks5)://[a-z0-9]|\bwww\.[a-z0-9])", re.IGNORECASE
)


def translation_key(value: Any) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise vol.Invalid(
            f"invalid translation key {value!r}: lower case a-z, 0-9, '-' and '_' only, "
            "not at the start or end and never doubled"
        )
    return value


def _text(allow_placeholders: bool) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        text = cv.string_with_no_html(value)
        if text != text.strip():
            raise vol.Invalid("leading or trailing white space")
        if _REFERENCE.search(text):
            raise vol.Invalid("[%key:...%] references are only resolved for core integrations")
        if _URL.search(text):
            raise vol.Invalid("URL in a text: pass it as a description placeholder")
        if _QUOTED_PLACEHOLDER.search(text):
            raise vol.Invalid("placeholder inside single quotes")
        try:
            names = placeholders(text)
        except ValueError as err:
            raise vol.Invalid(f"unbalanced braces: {err}") from err
        if names and not allow_placeholders:
            raise vol.Invalid("placeholders are not allowed here")
        if bad := sorted(name for name in names if not name.isidentifier()):
            raise vol.Invalid(f"placeholders must be identifiers: {bad}")
        return text

    return validate


TEXT = _text(allow_placeholders=True)
STATE_TEXT = _text(allow_placeholders=False)


def _slug_keys(value_schema: Any, slug: Callable[[Any], Any] = translation_key) -> Any:
    return cv.schema_with_slug_keys(value_schema, slug_validator=slug)


def _descriptions_have_labels(flow: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in flow["step"].items():
        if extra := set(step.get("data_description", {})) - set(step.get("data", {})):
            raise vol.Invalid(f"step {step_id}: data_description without data: {sorted(extra)}")
    return flow


FIELDS = {str: TEXT}
FLOW = vol.All(
    vol.Schema(
        {
            vol.Optional("flow_title"): TEXT,
            vol.Required("step"): {
                str: {
                    vol.Optional("title"): TEXT,
                    vol.Optional("description"): TEXT,
                    vol.Optional("data"): FIELDS,
                    vol.Optional("data_description"): FIELDS,
                    vol.Optional("menu_options"): FIELDS,
                    vol.Optional("menu_option_descriptions"): FIELDS,
                    vol.Optional("submit"): TEXT,
                    vol.Optional("sections"): {
                        str: {
                            vol.Optional("name"): TEXT,
                            vol.Optional("description"): TEXT,
                            vol.Optional("data"): FIELDS,
                            vol.Optional("data_description"): FIELDS,
                        }
                    },
                }
            },
            vol.Optional("error"): FIELDS,
            vol.Optional("abort"): FIELDS,
            vol.Optional("progress"): FIELDS,
            vol.Optional("create_entry"): FIELDS,
            vol.Optional("initiate_flow"): {vol.Required("user"): TEXT},
        }
    ),
    _descriptions_have_labels,
)
ENTITY_STATES = _slug_keys(STATE_TEXT)
SERVICE_FIELDS = _slug_keys(
    {vol.Required("name"): TEXT, vol.Required("description"): TEXT, vol.Optional("example"): TEXT}
)
# The categories an integration's translation file may have (hassfest's strings schema);
# an unknown top-level key is refused.
STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): FLOW,
        vol.Optional("options"): FLOW,
        vol.Optional("selector"): _slug_keys(
            {
                vol.Optional("options"): _slug_keys(TEXT),
                vol.Optional("choices"): _slug_keys(TEXT),
                vol.Optional("unit_of_measurement"): _slug_keys(TEXT),
                vol.Optional("fields"): SERVICE_FIELDS,
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("device"): _slug_keys({vol.Optional("name"): TEXT}),
        vol.Optional("entity"): _slug_keys(
            _slug_keys(
                {
                    vol.Optional("name"): TEXT,
                    vol.Optional("state"): ENTITY_STATES,
                    vol.Optional("state_attributes"): _slug_keys(
                        {vol.Optional("name"): STATE_TEXT, vol.Optional("state"): ENTITY_STATES}
                    ),
                    vol.Optional("unit_of_measurement"): STATE_TEXT,
                }
            ),
            cv.slug,
        ),
        vol.Optional("exceptions"): _slug_keys({vol.Optional("message"): TEXT}, cv.slug),
        vol.Optional("issues"): {
            str: vol.All(
                cv.has_at_least_one_key("description", "fix_flow"),
                vol.Schema(
                    {
                        vol.Required("title"): TEXT,
                        vol.Exclusive("description", "fixable"): TEXT,
                        vol.Exclusive("fix_flow", "fixable"): FLOW,
                    }
                ),
            )
        },
        vol.Optional("services"): _slug_keys(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): SERVICE_FIELDS,
                vol.Optional("sections"): _slug_keys(
                    {vol.Required("name"): TEXT, vol.Optional("description"): TEXT}
                ),
            }
        ),
        vol.Optional("device_automation"): {
            vol.Optional(kind): FIELDS
            for kind in (
                "action_type",
                "condition_type",
                "trigger_type",
                "trigger_subtype",
                "extra_fields",
                "extra_fields_descriptions",
            )
        },
        vol.Optional("system_health"): {vol.Optional("info"): _slug_keys(TEXT)},
    }
)

ICON = vol.All(str, vol.Match(r"^mdi:[a-z0-9]+(?:-[a-z0-9]+)*$", msg="not an mdi: icon"))
ICON_STATES = _slug_keys(ICON)
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("entity"): _slug_keys(
            _slug_keys(
                {
                    vol.Optional("default"): ICON,
                    vol.Optional("state"): ICON_STATES,
                    vol.Optional("range"): {vol.Coerce(float): ICON},
                    vol.Optional("state_attributes"): _slug_keys(
                        {vol.Optional("default"): ICON, vol.Optional("state"): ICON_STATES}
                    ),
                }
            ),
            cv.slug,
        ),
        vol.Optional("services"): _slug_keys(
            vol.Any(ICON, {vol.Required("service"): ICON, vol.Optional("sections"): ICON_STATES})
        ),
    }
)


# -- reading the code ------------------------------------------------------------------------------

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Module:
    """One source file of the integration, parsed, and importable to resolve constants."""

    path: Path

    @property
    def name(self) -> str:
        parts = self.path.relative_to(COMPONENT).with_suffix("").parts
        return ".".join((integration.__name__, *parts))

    @property
    def platform(self) -> str | None:
        stem = self.path.relative_to(COMPONENT).with_suffix("").as_posix()
        return stem if stem in PLATFORMS else None

    @property
    def tree(self) -> ast.Module:
        return _parse(self.path)

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.name)

    def resolve(self, expr: ast.expr | None) -> str | None:
        """A string constant, or a module-level name bound to a string (CONF_X)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            value = getattr(self.module, expr.id, None)
            return value if isinstance(value, str) else None
        return None


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def modules() -> list[Module]:
    return [Module(path) for path in sorted(COMPONENT.rglob("*.py"))]


def module(stem: str) -> Module:
    return Module(COMPONENT / f"{stem}.py")


def callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def where(mod: Module, node: ast.AST) -> str:
    return f"{mod.path.relative_to(COMPONENT.parent.parent)}:{getattr(node, 'lineno', '?')}"


@dataclass
class KeyUse:
    """A translation_key="..." in the code, with the placeholders passed next to it."""

    key: str
    module: Module
    call: ast.Call
    placeholders: set[str] | None  # None: not a dict literal, cannot tell


def _dict_keys(mod: Module, expr: ast.expr | None) -> set[str] | None:
    if expr is None:
        return set()
    if not isinstance(expr, ast.Dict) or None in expr.keys:
        return None
    keys = {mod.resolve(key) for key in expr.keys}
    return None if None in keys else {key for key in keys if key is not None}


def translation_key_uses(kind: Callable[[ast.Call], bool]) -> tuple[list[KeyUse], list[str]]:
    """Every call with a translation_key keyword that `kind` accepts, resolved."""
    uses: list[KeyUse] = []
    problems: list[str] = []
    for mod in modules():
        for call in calls(mod.tree):
            expr = keyword(call, "translation_key")
            if expr is None or not kind(call):
                continue
            key = mod.resolve(expr)
            if key is None:
                problems.append(f"{where(mod, call)}: translation_key is not a constant string")
                continue
            given = _dict_keys(mod, keyword(call, "translation_placeholders"))
            uses.append(KeyUse(key, mod, call, given))
    return uses, problems


def is_issue(call: ast.Call) -> bool:
    return callee(call) in ("async_create_issue", "create_issue")


def is_selector(call: ast.Call) -> bool:
    return callee(call).endswith(("Selector", "SelectorConfig"))


def is_exception(call: ast.Call) -> bool:
    return (
        not is_issue(call)
        and not is_selector(call)
        and keyword(call, "translation_domain") is not None
    )


def is_device_info(call: ast.Call) -> bool:
    return callee(call) == "DeviceInfo"


def is_entity_description(call: ast.Call) -> bool:
    return not (is_issue(call) or is_selector(call) or is_exception(call) or is_device_info(call))


def entity_descriptions(mod: Module) -> Iterator[EntityDescription]:
    """The EntityDescription objects a platform module defines (also inside tuples/lists)."""
    for value in vars(mod.module).values():
        items = value if isinstance(value, tuple | list) else (value,)
        yield from (item for item in items if isinstance(item, EntityDescription))


# -- reading the flows -----------------------------------------------------------------------------


@dataclass
class StepFacts:
    """What one async_step_<id> method (and the helpers it calls) does."""

    shown: dict[str, list[set[str] | None]] = field(default_factory=dict)  # step id -> placeholders
    fields: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    aborts: dict[str, set[str] | None] = field(default_factory=dict)  # reason -> placeholders
    menus: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class FlowFacts:
    section: str  # "config" or "options"
    name: str
    steps: dict[str, StepFacts] = field(default_factory=dict)  # method suffix -> facts


class FlowReader:
    """Static reading of config_flow.py: which steps show which fields, errors and texts.

    From each async_step_<id> method it follows calls to methods of the same class and to
    module functions (not into other async_step_* methods, those are steps of their own).
    """

    SHOW = ("async_show_form", "async_show_menu", "async_show_progress", "async_external_step")

    def __init__(self, mod: Module) -> None:
        self.mod = mod
        tree = mod.tree
        self.functions = {n.name: n for n in tree.body if isinstance(n, FunctionNode)}
        self.classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        self.tables: dict[str, ast.expr] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.tables[target.id] = node.value
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
            ):
                self.tables[node.target.id] = node.value
        self.problems: list[str] = []

    # -- structure

    def flows(self) -> Iterator[tuple[str, ast.ClassDef]]:
        for cls in self.classes.values():
            bases = {
                base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                for base in cls.bases
            }
            if any(base.startswith("ConfigSubentryFlow") for base in bases):
                self.problems.append(f"{cls.name}: subentry flows are not checked yet")
            elif any(base.endswith("ConfigFlow") for base in bases):
                yield "config", cls
            elif any(base.startswith("OptionsFlow") for base in bases):
                yield "options", cls

    @staticmethod
    def methods(flow: ast.ClassDef) -> dict[str, FunctionNode]:
        return {n.name: n for n in flow.body if isinstance(n, FunctionNode)}

    def reachable(
        self, start: FunctionNode, methods: dict[str, FunctionNode]
    ) -> list[FunctionNode]:
        seen: set[int] = set()
        order: list[FunctionNode] = []
        stack = [start]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            order.append(node)
            for call in calls(node):
                target = self._target(call, methods)
                if target is not None and not target.name.startswith("async_step_"):
                    stack.append(target)
        return order

    def _target(self, call: ast.Call, methods: dict[str, FunctionNode]) -> FunctionNode | None:
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "self":
                return methods.get(func.attr)
        elif isinstance(func, ast.Name):
            return self.functions.get(func.id)
        return None

    @staticmethod
    def _params(function: FunctionNode, methods: dict[str, FunctionNode]) -> list[str]:
        names = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
        return names[1:] if methods.get(function.name) is function else names

    def _argument(
        self, call: ast.Call, function: FunctionNode, param: str, methods: dict[str, FunctionNode]
    ) -> ast.expr | None:
        if (expr := keyword(call, param)) is not None:
            return expr
        params = self._params(function, methods)
        if param in params and (index := params.index(param)) < len(call.args):
            return call.args[index]
        return None

    # -- values

    def strings_of(
        self,
        expr: ast.expr | None,
        function: FunctionNode,
        scope: list[FunctionNode],
        methods: dict[str, FunctionNode],
    ) -> set[str] | None:
        """The string values an expression can have: constants, CONF_X names, local variables
        assigned constants, parameters (through the calls in scope)."""
        if expr is None:
            return None
        if (value := self.mod.resolve(expr)) is not None:
            return {value}
        if not isinstance(expr, ast.Name):
            return None
        assigned = [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
        ]
        if assigned:
            values = [self.mod.resolve(value) for value in assigned]
            return None if None in values else {v for v in values if v is not None}
        return self._through_callers(expr.id, function, scope, methods, self.strings_of)

    def placeholders_of(
        self,
        expr: ast.expr | None,
        function: FunctionNode,
        scope: list[FunctionNode],
        methods: dict[str, FunctionNode],
    ) -> set[str] | None:
        """The keys of a description_placeholders expression."""
        if expr is None:
            return set()
        if isinstance(expr, ast.Dict):
            return _dict_keys(self.mod, expr)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
            helper = self.functions.get(expr.func.id)
            if helper is None:
                return None
            returned = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return)]
            keys = [self.placeholders_of(value, helper, scope, methods) for value in returned]
            return None if not keys or None in keys else set().union(*keys)  # type: ignore[arg-type]
        if not isinstance(expr, ast.Name):
            return None
        found: set[str] = set()
        bound = False
        for node in ast.walk(function):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for target in targets:
                if isinstance(target, ast.Name) and target.id == expr.id:
                    value = getattr(node, "value", None)
                    keys = self.placeholders_of(value, function, scope, methods)
                    if keys is None:
                        return None
                    found |= keys
                    bound = True
                elif (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == expr.id
                    and (key := self.mod.resolve(target.slice)) is not None
                ):
                    found.add(key)
        if bound:
            return found
        return self._through_callers(expr.id, function, scope, methods, self.placeholders_of)

    def _through_callers(
        self,
        param: str,
        function: FunctionNode,
        scope: list[FunctionNode],
        methods: dict[str, FunctionNode],
        resolve: Callable[..., set[str] | None],
    ) -> set[str] | None:
        """A parameter: what the callers in scope pass (every caller must give it)."""
        if param not in self._params(function, methods):
            return None
        results: list[set[str] | None] = []
        for caller in scope:
            for call in calls(caller):
                if self._target(call, methods) is function:
                    argument = self._argument(call, function, param, methods)
                    results.append(resolve(argument, caller, scope, methods))
        if not results or None in results:
            return None
        if resolve == self.strings_of:
            return set().union(*results)  # type: ignore[arg-type]
        return set.intersection(*results)  # type: ignore[arg-type]

    def _field(self, call: ast.Call, function: FunctionNode) -> set[str] | None:
        """A vol.Required/Optional key: a constant, or the variable of the for loop over
        constants around the call."""
        expr = call.args[0]
        if (value := self.mod.resolve(expr)) is not None:
            return {value}
        if isinstance(expr, ast.Name):
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.For)
                    and isinstance(node.target, ast.Name)
                    and node.target.id == expr.id
                    and isinstance(node.iter, ast.Tuple | ast.List)
                    and any(inner is call for inner in ast.walk(node))
                ):
                    values = {self.mod.resolve(item) for item in node.iter.elts}
                    return None if None in values else {v for v in values if v is not None}
        return None

    def _errors(self, function: FunctionNode) -> set[str]:
        """Form error keys: errors[...] = "key", returned {field: "key"} dicts,
        dict.fromkeys(fields, "key"), and module tables named *_ERRORS."""
        found: set[str] = set()
        returns_errors = function.returns is not None and "dict[str, str]" in ast.unparse(
            function.returns
        )
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and "error" in target.value.id
                        and isinstance(node.value.value, str)
                    ):
                        found.add(node.value.value)
            elif isinstance(node, ast.Return) and returns_errors and node.value is not None:
                parts = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                for part in parts:
                    if isinstance(part, ast.Dict):
                        found |= {
                            v.value
                            for v in part.values
                            if isinstance(v, ast.Constant) and isinstance(v.value, str)
                        }
            elif (
                isinstance(node, ast.Call)
                and callee(node) == "fromkeys"
                and len(node.args) == 2
                and (value := self.mod.resolve(node.args[1])) is not None
            ):
                found.add(value)
            elif isinstance(node, ast.Name) and node.id.endswith("_ERRORS"):
                table = self.tables.get(node.id)
                if isinstance(table, ast.Dict):
                    for entry in table.values:
                        last = entry.elts[-1] if isinstance(entry, ast.Tuple) else entry
                        if (value := self.mod.resolve(last)) is not None:
                            found.add(value)
        return found

    # -- facts

    def read(self) -> list[FlowFacts]:
        flows: list[FlowFacts] = []
        for section, cls in self.flows():
            methods = self.methods(cls)
            facts = FlowFacts(section, cls.name)
            for name, method in methods.items():
                if name.startswith("async_step_"):
                    facts.steps[name.removeprefix("async_step_")] = self._step(method, methods)
            flows.append(facts)
        return flows

    def _step(self, start: FunctionNode, methods: dict[str, FunctionNode]) -> StepFacts:
        facts = StepFacts()
        scope = self.reachable(start, methods)
        for function in scope:
            facts.errors |= self._errors(function)
            for call in calls(function):
                self._call(call, function, scope, methods, facts)
        return facts

    def _call(
        self,
        call: ast.Call,
        function: FunctionNode,
        scope: list[FunctionNode],
        methods: dict[str, FunctionNode],
        facts: StepFacts,
    ) -> None:
        name = callee(call)
        here = where(self.mod, call)
        if name in self.SHOW:
            step_ids = self.strings_of(keyword(call, "step_id"), function, scope, methods)
            if step_ids is None:
                self.problems.append(f"{here}: cannot tell the step_id")
                return
            given = self.placeholders_of(
                keyword(call, "description_placeholders"), function, scope, methods
            )
            for step_id in step_ids:
                facts.shown.setdefault(step_id, []).append(given)
                if name == "async_show_menu":
                    menu = keyword(call, "menu_options")
                    if isinstance(menu, ast.List | ast.Tuple):
                        options = {self.mod.resolve(item) for item in menu.elts}
                    elif isinstance(menu, ast.Dict):
                        options = {self.mod.resolve(item) for item in menu.keys if item}
                    else:
                        options = {None}
                    if None in options:
                        self.problems.append(f"{here}: cannot tell the menu options")
                    facts.menus[step_id] = {o for o in options if o is not None}
        elif name in ("Required", "Optional") and call.args:
            keys = self._field(call, function)
            if keys is None:
                self.problems.append(f"{here}: cannot tell the name of a form field")
            else:
                facts.fields |= keys
        elif name == "async_abort":
            reasons = self.strings_of(keyword(call, "reason"), function, scope, methods)
            if reasons is None:
                self.problems.append(f"{here}: cannot tell the abort reason")
                return
            given = self.placeholders_of(
                keyword(call, "description_placeholders"), function, scope, methods
            )
            for reason in reasons:
                facts.aborts[reason] = given
        elif name == "_abort_if_unique_id_configured":
            facts.aborts["already_configured"] = set()
        elif name == "async_set_unique_id":
            progress = keyword(call, "raise_on_progress")
            if not (isinstance(progress, ast.Constant) and progress.value is False):
                facts.aborts["already_in_progress"] = set()
        elif name in ("async_update_reload_and_abort", "_abort_if_unique_id_mismatch"):
            self.problems.append(f"{here}: {name} is not understood by this test yet")


# -- translation files -----------------------------------------------------------------------------


async def test_strings_json_is_translations_en() -> None:
    """Hassfest and translators read strings.json; Home Assistant loads translations/en.json."""
    source, loaded = flatten(load_json(COMPONENT / "strings.json")), flatten(english())
    report(
        [
            f"{key}: strings.json {source.get(key)!r}, en.json {loaded.get(key)!r}"
            for key in source.keys() | loaded.keys()
            if source.get(key) != loaded.get(key)
        ]
    )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_translation_file_schema(language: str) -> None:
    data = strings(language)
    try:
        STRINGS_SCHEMA(data)
    except vol.Invalid as err:
        problem = humanize_error(data, err)
    else:
        return
    pytest.fail(f"{language}.json: {problem}", pytrace=False)


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
async def test_same_keys_as_english(language: str) -> None:
    ours, theirs = set(flatten(english())), set(flatten(strings(language)))
    report(
        [f"{language}.json lacks {key}" for key in ours - theirs]
        + [f"{language}.json has {key}, which en.json does not" for key in theirs - ours]
    )


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
async def test_same_placeholders_as_english(language: str) -> None:
    translated = flatten(strings(language))
    problems = []
    for key, text in flatten(english()).items():
        if key in translated and placeholders(text) != placeholders(translated[key]):
            problems.append(
                f"{language}.json {key}: {sorted(placeholders(translated[key]))}, "
                f"English has {sorted(placeholders(text))}"
            )
    report(problems)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_home_assistant_loads_every_text(
    hass: HomeAssistant, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Through HA's own loader: what it serves is exactly the file (no English fallback, no
    string dropped for a placeholder mismatch, no load error)."""
    caplog.set_level(logging.WARNING, logger="homeassistant.helpers.translation")
    for category, tree in strings(language).items():
        served = await async_get_translations(hass, language, category, integrations=[DOMAIN])
        expected = (
            flatten(tree, f"component.{DOMAIN}.{category}.")
            if isinstance(tree, Mapping)
            else {f"component.{DOMAIN}.{category}": tree}
        )
        assert served == expected, f"{language}: category {category} is served differently"
    assert not [r for r in caplog.records if r.name == "homeassistant.helpers.translation"]


async def test_home_assistant_loads_every_icon(hass: HomeAssistant) -> None:
    """icons.json passes a hassfest-like schema and HA's icon loader serves all of it."""
    icons = load_json(COMPONENT / "icons.json")
    problem = None
    try:
        ICONS_SCHEMA(icons)
    except vol.Invalid as err:
        problem = humanize_error(icons, err)
    if problem:
        pytest.fail(f"icons.json: {problem}", pytrace=False)
    for category, tree in icons.items():
        served = await async_get_icons(hass, category, integrations=[DOMAIN])
        expected = tree
        if category == "services":  # HA expands the "service": "mdi:x" shorthand
            expected = {
                name: {"service": icon} if isinstance(icon, str) else icon
                for name, icon in tree.items()
            }
        assert served == {DOMAIN: expected}, f"icons: category {category} is served differently"


# -- keys used in the code -------------------------------------------------------------------------


async def test_device_translation_keys() -> None:
    """device.<key>.name for every DeviceInfo translation_key, with the placeholders passed."""
    texts = english().get("device", {})
    uses, problems = translation_key_uses(is_device_info)
    assert uses, "no DeviceInfo(translation_key=...) found"
    for use in uses:
        name = texts.get(use.key, {}).get("name")
        if name is None:
            problems.append(f"{where(use.module, use.call)}: no device.{use.key}.name in en.json")
            continue
        passed = next(
            (kw.value for kw in use.call.keywords if kw.arg == "translation_placeholders"), None
        )
        keys = (
            {k.value for k in passed.keys if isinstance(k, ast.Constant)}
            if isinstance(passed, ast.Dict)
            else set()
        )
        if keys != placeholders(name):
            problems.append(
                f"device.{use.key}.name needs {sorted(placeholders(name))}, "
                f"code passes {sorted(keys)}"
            )
    unused = set(texts) - {use.key for use in uses}
    problems.extend(f"device.{key} is not used by any DeviceInfo" for key in sorted(unused))
    report(problems)


async def test_entity_translation_keys() -> None:
    """entity.<platform>.<key>.name for every translation_key, ENUM options = state keys,
    an icon for each, and nothing translated that no entity uses."""
    texts = english().get("entity", {})
    icons = load_json(COMPONENT / "icons.json").get("entity", {})
    uses, problems = translation_key_uses(is_entity_description)
    used: set[tuple[str, str]] = set()
    for use in uses:
        if use.module.platform is None:
            problems.append(
                f"{where(use.module, use.call)}: entity translation_key {use.key!r} outside a "
                "platform module (cannot tell the platform)"
            )
            continue
        used.add((use.module.platform, use.key))
    for mod in modules():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_attr_translation_key" for t in node.targets
            ):
                if mod.platform is None or (key := mod.resolve(node.value)) is None:
                    problems.append(f"{where(mod, node)}: _attr_translation_key not understood")
                else:
                    used.add((mod.platform, key))
        if mod.platform is None:
            continue
        for description in entity_descriptions(mod):
            if description.translation_key is None:
                continue
            used.add((mod.platform, description.translation_key))
            options = getattr(description, "options", None)
            if getattr(description, "device_class", None) != SensorDeviceClass.ENUM or not options:
                continue
            prefix = f"entity.{mod.platform}.{description.translation_key}"
            states = set(
                texts.get(mod.platform, {}).get(description.translation_key, {}).get("state", {})
            )
            icon_states = set(
                icons.get(mod.platform, {}).get(description.translation_key, {}).get("state", {})
            )
            problems += [f"{prefix}.state.{option} missing" for option in set(options) - states]
            problems += [
                f"{prefix}.state.{state} is not an option" for state in states - set(options)
            ]
            problems += [
                f"icons.json {prefix}.state.{state} is not an option"
                for state in icon_states - set(options)
            ]
    for platform, key in used:
        if not texts.get(platform, {}).get(key, {}).get("name"):
            problems.append(f"en.json lacks entity.{platform}.{key}.name")
        if key not in icons.get(platform, {}):
            problems.append(f"icons.json lacks entity.{platform}.{key}")
    for platform, keys in texts.items():
        problems += [
            f"en.json entity.{platform}.{key} is not used"
            for key in keys
            if (platform, key) not in used
        ]
    for platform, keys in icons.items():
        problems += [
            f"icons.json entity.{platform}.{key} is not used"
            for key in keys
            if (platform, key) not in used
        ]
    report(problems)


async def test_exception_translation_keys() -> None:
    """exceptions.<key>.message for every exception raised with a translation_key, with the
    placeholders the code passes, and nothing translated that is never raised."""
    texts = english().get("exceptions", {})
    uses, problems = translation_key_uses(is_exception)
    for use in uses:
        message = texts.get(use.key, {}).get("message")
        if message is None:
            problems.append(
                f"{where(use.module, use.call)}: en.json lacks exceptions.{use.key}.message"
            )
        elif use.placeholders is not None and use.placeholders != placeholders(message):
            problems.append(
                f"{where(use.module, use.call)}: exceptions.{use.key} uses "
                f"{sorted(placeholders(message))}, the code passes {sorted(use.placeholders)}"
            )
        domain = keyword(use.call, "translation_domain")
        if domain is not None and use.module.resolve(domain) != DOMAIN:
            problems.append(f"{where(use.module, use.call)}: translation_domain is not {DOMAIN}")
    used = {use.key for use in uses}
    problems += [f"en.json exceptions.{key} is never raised" for key in set(texts) - used]
    report(problems)


async def test_issue_translation_keys() -> None:
    """issues.<key>.title and .description for every repair issue, with the placeholders the
    code passes, and nothing translated that is never created."""
    texts = english().get("issues", {})
    uses, problems = translation_key_uses(is_issue)
    for use in uses:
        issue = texts.get(use.key, {})
        needed: set[str] = set()
        for part in ("title", "description"):
            if part not in issue:
                problems.append(
                    f"{where(use.module, use.call)}: en.json lacks issues.{use.key}.{part}"
                )
            else:
                needed |= placeholders(issue[part])
        if use.placeholders is not None and issue and use.placeholders != needed:
            problems.append(
                f"{where(use.module, use.call)}: issues.{use.key} uses {sorted(needed)}, "
                f"the code passes {sorted(use.placeholders)}"
            )
    used = {use.key for use in uses}
    problems += [f"en.json issues.{key} is never created" for key in set(texts) - used]
    report(problems)


async def test_flow_translations() -> None:
    """config.* and options.*: every step shown, its fields, errors, aborts, menu options and the
    placeholders its texts need."""
    texts = english()
    reader = FlowReader(module("config_flow"))
    flows = reader.read()
    problems = list(reader.problems)
    assert {flow.section for flow in flows} == {"config", "options"}, "flows not found"
    for flow in flows:
        section = texts.get(flow.section, {})
        steps = section.get("step", {})
        errors = section.get("error", {})
        aborts = section.get("abort", {})
        shown: set[str] = set()
        used_errors: set[str] = set()
        used_aborts: set[str] = set()
        for method, facts in flow.steps.items():
            shown |= set(facts.shown)
            used_errors |= facts.errors
            used_aborts |= set(facts.aborts)
            if facts.fields and set(facts.shown) != {method}:
                problems.append(
                    f"{flow.name}.async_step_{method} builds a form but shows {sorted(facts.shown)}"
                )
            for step_id, given in facts.shown.items():
                step = steps.get(step_id)
                if step is None:
                    problems.append(f"en.json lacks {flow.section}.step.{step_id}")
                    continue
                prefix = f"{flow.section}.step.{step_id}"
                if step_id == method:
                    labels = set(step.get("data", {}))
                    problems += [f"en.json lacks {prefix}.data.{f}" for f in facts.fields - labels]
                    problems += [
                        f"en.json {prefix}.data.{f} is not a field" for f in labels - facts.fields
                    ]
                menu = facts.menus.get(step_id)
                if menu is not None and menu != set(step.get("menu_options", {})):
                    problems.append(
                        f"{prefix}.menu_options {sorted(step.get('menu_options', {}))} "
                        f"!= the menu {sorted(menu)}"
                    )
                needed = set().union(*(placeholders(t) for t in flatten(step).values()))
                for error in facts.errors & set(errors):
                    needed |= placeholders(errors[error])
                if None in given:
                    problems.append(f"{prefix}: cannot tell the description_placeholders")
                    continue
                provided = set.intersection(*given) if given else set()  # type: ignore[arg-type]
                if missing := needed - provided:
                    problems.append(f"{prefix}: placeholders {sorted(missing)} are not given")
            for reason, given_abort in facts.aborts.items():
                if reason not in aborts or given_abort is None:
                    continue
                if missing := placeholders(aborts[reason]) - given_abort:
                    problems.append(
                        f"{flow.section}.abort.{reason}: placeholders {sorted(missing)} "
                        "are not given"
                    )
        problems += [f"en.json lacks {flow.section}.error.{e}" for e in used_errors - set(errors)]
        problems += [
            f"en.json {flow.section}.error.{e} is never shown" for e in set(errors) - used_errors
        ]
        problems += [f"en.json lacks {flow.section}.abort.{a}" for a in used_aborts - set(aborts)]
        problems += [
            f"en.json {flow.section}.abort.{a} is never used" for a in set(aborts) - used_aborts
        ]
        problems += [f"en.json {flow.section}.step.{s} is never shown" for s in set(steps) - shown]
    report(problems)


def flow_select_selectors() -> tuple[dict[str, set[str]], list[str]]:
    """translation_key -> options of the select selectors in config_flow.py.

    The keys come from the source; the options from the literal list, or else from the
    selectors in the schemas the module's schema functions build."""
    mod = module("config_flow")
    built: dict[str, set[str]] = {}
    for name, function in FlowReader(mod).functions.items():
        if (
            function.args.args
            or ast.unparse(function.returns or ast.Constant(None)) != "vol.Schema"
        ):
            continue
        for validator in getattr(mod.module, name)().schema.values():
            if isinstance(validator, SelectSelector) and (
                key := validator.config.get("translation_key")
            ):
                built[key] = {
                    o if isinstance(o, str) else o["value"] for o in validator.config["options"]
                }
    found: dict[str, set[str]] = {}
    problems: list[str] = []
    for call in calls(mod.tree):
        if callee(call) != "SelectSelectorConfig" or keyword(call, "translation_key") is None:
            continue
        key = mod.resolve(keyword(call, "translation_key"))
        if key is None:
            problems.append(f"{where(mod, call)}: selector translation_key not understood")
            continue
        try:
            options = ast.literal_eval(keyword(call, "options"))  # type: ignore[arg-type]
            found[key] = {o if isinstance(o, str) else o["value"] for o in options}
        except ValueError:
            if key not in built:
                problems.append(f"{where(mod, call)}: cannot tell the options of selector {key}")
            else:
                found[key] = built[key]
    return found, problems


def services_yaml() -> dict[str, Any]:
    return load_yaml_dict(str(COMPONENT / "services.yaml"))


def service_select_selectors() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for service in services_yaml().values():
        for spec in (service or {}).get("fields", {}).values():
            select = (spec.get("selector") or {}).get("select") or {}
            if key := select.get("translation_key"):
                found[key] = {o if isinstance(o, str) else o["value"] for o in select["options"]}
    return found


async def test_selector_translations() -> None:
    """selector.<key>.options.<option> for every option of every select selector with a
    translation_key (flows and services.yaml), and no selector translated for nothing."""
    texts = english().get("selector", {})
    selectors, problems = flow_select_selectors()
    for key, options in service_select_selectors().items():
        if key in selectors and selectors[key] != options:
            problems.append(f"selector {key} has different options in the flow and services.yaml")
        selectors[key] = options
    for key, options in selectors.items():
        translated = set(texts.get(key, {}).get("options", {}))
        problems += [f"en.json lacks selector.{key}.options.{o}" for o in options - translated]
        problems += [
            f"en.json selector.{key}.options.{o} is not an option" for o in translated - options
        ]
    problems += [f"en.json selector.{key} is not used" for key in set(texts) - set(selectors)]
    report(problems)


async def test_service_translations() -> None:
    """services.yaml = the services registered in code = services.<name> in en.json, every
    field with a name and a description, and an icon for each service."""
    texts = english().get("services", {})
    icons = load_json(COMPONENT / "icons.json").get("services", {})
    described = services_yaml()
    problems: list[str] = []
    registered: set[str] = set()
    for mod in modules():
        for call in calls(mod.tree):
            if callee(call) in ("async_register", "async_register_entity_service") and call.args:
                args = call.args if callee(call) == "async_register" else [None, *call.args]
                if args[0] is not None and mod.resolve(args[0]) != DOMAIN:
                    continue
                if (name := mod.resolve(args[1])) is None:
                    problems.append(f"{where(mod, call)}: service name not understood")
                else:
                    registered.add(name)
    problems += [
        f"services.yaml lacks {s}, registered in code" for s in registered - set(described)
    ]
    problems += [f"services.yaml has {s}, never registered" for s in set(described) - registered]
    for name, service in described.items():
        text = texts.get(name)
        if text is None:
            problems.append(f"en.json lacks services.{name}")
            continue
        problems += [
            f"en.json lacks services.{name}.{p}" for p in ("name", "description") if p not in text
        ]
        fields = set((service or {}).get("fields", {}))
        translated = text.get("fields", {})
        for f in fields:
            problems += [
                f"en.json lacks services.{name}.fields.{f}.{p}"
                for p in ("name", "description")
                if p not in translated.get(f, {})
            ]
        problems += [
            f"en.json services.{name}.fields.{f} is not a field" for f in set(translated) - fields
        ]
        if name not in icons:
            problems.append(f"icons.json lacks services.{name}")
    problems += [
        f"en.json services.{s} is not in services.yaml" for s in set(texts) - set(described)
    ]
    problems += [
        f"icons.json services.{s} is not in services.yaml" for s in set(icons) - set(described)
    ]
    report(problems)
