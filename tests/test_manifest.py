"""manifest.json, hacs.json, the brand icons and quality_scale.yaml, checked like hassfest and HACS.

hassfest itself (script/hassfest) is not in the homeassistant wheel, so its rules are written here
with voluptuous, taking what the installed package does ship: the manifest keys and integration
types from homeassistant.loader.Manifest, the IoT classes in use from
homeassistant/generated/integrations.json, the custom-integration version rule of the loader
(AwesomeVersion with the loader's strategies), the installed Home Assistant version.

The quality scale rule list is not shipped either: RULES below is the list of Home Assistant
2026.2 (52 rules; developers.home-assistant.io/docs/core/integration-quality-scale/rules).
Later releases add rules (docs-conditions and docs-triggers, bronze, mid-2026): when the
integration targets such a release, add them here and to quality_scale.yaml.
"""

from __future__ import annotations

import ast
import json
import re
import struct
import typing
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import homeassistant
import pytest
import voluptuous as vol
from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant.const import Platform
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.loader import Manifest
from homeassistant.util.yaml import load_yaml_dict
from packaging.requirements import InvalidRequirement, Requirement
from voluptuous.humanize import humanize_error

from custom_components.ocpp_cp import engine

ROOT = Path(__file__).parent.parent
DOMAIN = "ocpp_cp"
COMPONENT = ROOT / "custom_components" / DOMAIN

# The strategies homeassistant.loader accepts for a custom integration's version.
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]

RULES: dict[str, tuple[str, ...]] = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}
ALL_RULES = [rule for tier in RULES.values() for rule in tier]


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def validate(schema: vol.Schema, data: Any, name: str) -> Any:
    try:
        return schema(data)
    except vol.Invalid as err:
        problem = humanize_error(data, err)
    pytest.fail(f"{name}: {problem}", pytrace=False)


# -- manifest.json ---------------------------------------------------------------------------------


def custom_version(value: Any) -> str:
    try:
        AwesomeVersion(str(value), ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a version Home Assistant accepts") from err
    return str(value)


def https_url(value: Any) -> str:
    url = vol.Url()(value)
    if urlparse(url).scheme != "https":
        raise vol.Invalid("not an https:// URL")
    return str(url)


_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?(==|>=)\d[^\s,;]*$")


def pinned_requirement(value: Any) -> str:
    if not isinstance(value, str) or not _PINNED.match(value):
        raise vol.Invalid(f"{value!r} is not pinned as package==version or package>=version")
    try:
        Requirement(value)
    except InvalidRequirement as err:
        raise vol.Invalid(f"{value!r}: {err}") from err
    return value


def codeowner(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^@[A-Za-z0-9][A-Za-z0-9-]*(/[\w.-]+)?$", value):
        raise vol.Invalid(f"{value!r} is not a GitHub @user or @org/team")
    return value


def manifest_keys() -> set[str]:
    """The keys homeassistant.loader knows (minus the two it sets itself)."""
    return set(typing.get_type_hints(Manifest)) - {"is_built_in", "overwrites_built_in"}


def integration_types() -> set[str]:
    hint = typing.get_type_hints(Manifest)["integration_type"]
    return set(typing.get_args(hint)) - {"virtual"}  # a custom integration has code


def iot_classes() -> set[str]:
    """The IoT classes of every core integration, from the generated integrations.json."""
    data = load_json(Path(homeassistant.__file__).parent / "generated" / "integrations.json")
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("iot_class"), str):
                found.add(node["iot_class"])
            for child in node.values():
                walk(child)

    walk(data)
    assert found, "no IoT classes found in homeassistant/generated/integrations.json"
    return found


def manifest_schema() -> vol.Schema:
    known = {
        vol.Required("domain"): vol.All(str, vol.Match(r"^[a-z0-9_]+$")),
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Required("codeowners"): [codeowner],
        vol.Required("config_flow"): True,
        vol.Required("documentation"): https_url,
        vol.Required("issue_tracker"): https_url,
        vol.Required("integration_type"): vol.In(sorted(integration_types())),
        vol.Required("iot_class"): vol.In(sorted(iot_classes())),
        vol.Required("requirements"): [pinned_requirement],
        vol.Required("version"): custom_version,
        vol.Optional("loggers"): [vol.All(str, vol.Length(min=1))],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Optional("quality_scale"): vol.In(
            ["internal", "bronze", "silver", "gold", "platinum", "legacy", "custom"]
        ),
        vol.Optional("single_config_entry"): bool,
        vol.Optional("import_executor"): bool,
        vol.Optional("disabled"): str,
    }
    names = {str(marker) for marker in known}
    assert names <= manifest_keys(), f"not manifest keys any more: {names - manifest_keys()}"
    # Discovery and the other keys the loader knows: allowed, not checked further here.
    known.update({vol.Optional(key): object for key in manifest_keys() - names})
    return vol.Schema(known)


def test_manifest_schema() -> None:
    manifest = load_json(COMPONENT / "manifest.json")
    validate(manifest_schema(), manifest, "manifest.json")
    assert manifest["domain"] == COMPONENT.name, "domain does not match the folder name"
    assert manifest["version"] == engine.__version__, "the engine is released with the integration"
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"] and keys[2:] == sorted(keys[2:]), (
        "hassfest sorts manifest keys: domain, name, then alphabetically"
    )


def test_requirements_installed() -> None:
    """Every requirement is installed here, at a version it allows (what the tests ran against)."""
    problems = []
    for line in load_json(COMPONENT / "manifest.json").get("requirements", []):
        requirement = Requirement(line)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{line}: {installed} is installed")
    assert not problems, problems


# -- hacs.json -------------------------------------------------------------------------------------


def ha_minimum(value: Any) -> str:
    try:
        version = AwesomeVersion(str(value), ensure_strategy=[AwesomeVersionStrategy.CALVER])
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a Home Assistant version") from err
    if version > AwesomeVersion(HA_VERSION):
        raise vol.Invalid(f"{value} is newer than the Home Assistant tested here ({HA_VERSION})")
    return str(value)


def any_version(value: Any) -> str:
    try:
        AwesomeVersion(str(value), ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a version") from err
    return str(value)


COUNTRY = vol.Match(r"^[A-Z]{2}$", msg="not an ISO 3166-1 alpha-2 country code")
HACS_SCHEMA = vol.Schema(
    {
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Optional("content_in_root"): bool,
        vol.Optional("zip_release"): bool,
        vol.Optional("filename"): vol.All(str, vol.Length(min=1)),
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("country"): vol.Any(COUNTRY, [COUNTRY]),
        vol.Required("homeassistant"): ha_minimum,
        vol.Optional("hacs"): any_version,
        vol.Optional("persistent_directory"): vol.All(str, vol.Length(min=1)),
        vol.Optional("render_readme"): bool,
    }
)


def test_hacs_json() -> None:
    hacs = validate(HACS_SCHEMA, load_json(ROOT / "hacs.json"), "hacs.json")
    if hacs.get("zip_release"):
        assert hacs.get("filename"), "zip_release needs a filename"
    if not hacs.get("content_in_root"):
        assert (ROOT / "custom_components" / DOMAIN / "manifest.json").is_file()


# -- brand icons -----------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, chunk, width, height = struct.unpack(">I4sII", header[8:24])
    assert (length, chunk) == (13, b"IHDR"), f"{path.name}: no IHDR chunk first"
    return width, height


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icon(name: str, size: int) -> None:
    assert png_size(COMPONENT / "brand" / name) == (size, size)


# -- quality_scale.yaml ----------------------------------------------------------------------------

COMMENT = vol.All(str, vol.Strip, vol.Length(min=1, msg="needs a comment"))
RULE_STATUS = vol.Any(
    vol.In(["done", "todo"]),
    {vol.Required("status"): vol.In(["done", "todo"]), vol.Required("comment"): COMMENT},
    {vol.Required("status"): "exempt", vol.Required("comment"): COMMENT},
    msg="must be done, todo, or {status: done|todo|exempt, comment: why}",
)
QUALITY_SCALE_SCHEMA = vol.Schema(
    {vol.Required("rules"): {vol.Required(rule): RULE_STATUS for rule in ALL_RULES}}
)


def quality_scale() -> dict[str, Any]:
    return load_yaml_dict(str(COMPONENT / "quality_scale.yaml"))


def status(value: Any) -> str:
    return value["status"] if isinstance(value, dict) else str(value)


def test_quality_scale_names_every_rule() -> None:
    validate(QUALITY_SCALE_SCHEMA, quality_scale(), "quality_scale.yaml")


def _source(name: str) -> str:
    return (COMPONENT / name).read_text(encoding="utf-8")


def _platforms_set_parallel_updates() -> bool:
    platforms = [
        COMPONENT / f"{p.value}.py" for p in Platform if (COMPONENT / f"{p.value}.py").exists()
    ]
    return bool(platforms) and all(
        any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PARALLEL_UPDATES" for t in node.targets)
            for node in ast.parse(path.read_text(encoding="utf-8")).body
        )
        for path in platforms
    )


# What a "done" rule must at least show in the files (the rest needs a reviewer).
EVIDENCE: dict[str, Any] = {
    # Home Assistant shows a custom integration's local brand images from 2026.3 on.
    "brands": lambda: (COMPONENT / "brand" / "icon.png").is_file()
    and tuple(int(p) for p in load_json(ROOT / "hacs.json")["homeassistant"].split(".")[:2])
    >= (2026, 3),
    "config-flow": lambda: load_json(COMPONENT / "manifest.json").get("config_flow") is True,
    "diagnostics": lambda: "async_get_config_entry_diagnostics" in _source("diagnostics.py"),
    "reauthentication-flow": lambda: "async_step_reauth" in _source("config_flow.py"),
    "reconfiguration-flow": lambda: "async_step_reconfigure" in _source("config_flow.py"),
    "icon-translations": lambda: (COMPONENT / "icons.json").is_file(),
    "entity-translations": lambda: "entity" in load_json(COMPONENT / "strings.json"),
    "exception-translations": lambda: "exceptions" in load_json(COMPONENT / "strings.json"),
    "repair-issues": lambda: "issues" in load_json(COMPONENT / "strings.json"),
    "parallel-updates": _platforms_set_parallel_updates,
    "runtime-data": lambda: "runtime_data" in _source("__init__.py"),
    "integration-owner": lambda: bool(load_json(COMPONENT / "manifest.json")["codeowners"]),
    "has-entity-name": lambda: any(
        "_attr_has_entity_name = True" in path.read_text(encoding="utf-8")
        for path in COMPONENT.glob("*.py")
    ),
}


@pytest.mark.parametrize("rule", sorted(EVIDENCE))
def test_quality_scale_done_rules_show_in_the_files(rule: str) -> None:
    """Both ways: a rule said done shows in the files; one not said done does not (else say so)."""
    rules = quality_scale()["rules"]
    claimed = status(rules.get(rule)) == "done"
    shown = bool(EVIDENCE[rule]())
    assert claimed == shown, (
        f"quality_scale.yaml says {rule}: done, the files do not show it"
        if claimed
        else f"the files show {rule}, but quality_scale.yaml does not say done"
    )
