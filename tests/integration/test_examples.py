"""The blueprints and automations in example/ loaded by HA itself and run against the
integration: HA's blueprint loader validates them, the automation engine fires them, and
the engine's local schedule shows what arrived."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.csms import TestCsms
from tests.integration.test_smart_charging import rig_for

EXAMPLES = Path(__file__).parents[2] / "example"
BLUEPRINTS = sorted((EXAMPLES / "blueprints").rglob("*.yaml"))
EMHASS_ROWS = [
    {"date": "2026-11-21 14:00:00+01:00", "p_deferrable0": "3680.0"},
    {"date": "2026-11-21 14:30:00+01:00", "p_deferrable0": "0.0"},
    {"date": "2026-11-21 15:00:00+01:00", "p_deferrable0": "1840.0"},
]
EMHASS_EXPECTED = [
    (datetime(2026, 11, 21, 13, 0, tzinfo=UTC), 3680.0),
    (datetime(2026, 11, 21, 13, 30, tzinfo=UTC), 0.0),
    (datetime(2026, 11, 21, 14, 0, tzinfo=UTC), 1840.0),
]


def test_there_are_blueprints() -> None:
    assert {p.name for p in BLUEPRINTS} >= {"emhass_schedule.yaml", "solar_surplus.yaml"}


@pytest.fixture
def blueprint_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "blueprints", tmp_path / "blueprints")
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda p: p.name)
async def test_blueprint_passes_the_loader(
    hass: HomeAssistant, blueprint_dir: Path, path: Path
) -> None:
    relative = path.relative_to(EXAMPLES / "blueprints" / "automation").as_posix()
    blueprint = await async_get_blueprints(hass).async_get_blueprint(relative)
    assert blueprint.metadata["domain"] == "automation"
    assert blueprint.inputs["charge_point"]["selector"] == {
        "config_entry": {"integration": "ocpp_cp"}
    }


async def test_emhass_blueprint_hands_the_plan_to_the_charge_point(
    hass: HomeAssistant, csms: TestCsms, blueprint_dir: Path
) -> None:
    rig = await rig_for(hass, csms)
    config = {
        "use_blueprint": {
            "path": "ocpp_cp/emhass_schedule.yaml",
            "input": {
                "charge_point": rig.entry.entry_id,
                "emhass_sensor": "sensor.p_deferrable0",
            },
        }
    }
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    hass.states.async_set("sensor.p_deferrable0", "3680", {"deferrables_schedule": EMHASS_ROWS})
    await hass.async_block_till_done()
    local = rig.engine.profiles.local(1)
    assert [(p.start, p.watts) for p in local] == EMHASS_EXPECTED


async def test_solar_surplus_blueprint_limits_and_pauses(
    hass: HomeAssistant, csms: TestCsms, blueprint_dir: Path
) -> None:
    rig = await rig_for(hass, csms)
    hass.states.async_set("sensor.grid", "0", {"device_class": "power"})
    hass.states.async_set("sensor.charger_w", "1000", {"device_class": "power"})
    config = {
        "use_blueprint": {
            "path": "ocpp_cp/solar_surplus.yaml",
            "input": {
                "charge_point": rig.entry.entry_id,
                "grid_power": "sensor.grid",
                "charger_power": "sensor.charger_w",
            },
        }
    }
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    before = datetime.now(UTC)
    hass.states.async_set("sensor.grid", "-500", {"device_class": "power"})
    await hass.async_block_till_done()
    # 1000 W drawn + 500 W exported - 100 W reserve = 1400 W; / 230 V = 6.08 A -> 6.0 A
    local = rig.engine.profiles.local(1)
    assert [p.amps for p in local] == [6.0, None]
    assert before <= local[0].start <= datetime.now(UTC)
    assert local[1].start - local[0].start == timedelta(seconds=300)
    hass.states.async_set("sensor.grid", "300", {"device_class": "power"})
    await hass.async_block_till_done()
    # 1000 - 300 - 100 = 600 W = 2.6 A: below the 6 A minimum, so pause (0 A)
    assert [p.amps for p in rig.engine.profiles.local(1)] == [0.0, None]


@pytest.mark.parametrize("name", ["emhass_schedule.yaml", "solar_surplus.yaml"])
async def test_plain_automation_examples_load(
    hass: HomeAssistant, csms: TestCsms, name: str
) -> None:
    rig = await rig_for(hass, csms)
    text = (EXAMPLES / "automations" / name).read_text()
    automations = yaml.safe_load(text.replace("YOUR_CONFIG_ENTRY_ID", rig.entry.entry_id))
    assert await async_setup_component(hass, "automation", {"automation": automations})
    await hass.async_block_till_done()
    entity_id = f"automation.{automations[0]['alias'].lower().replace(' ', '_')}"
    state = hass.states.get(entity_id)
    assert state is not None, sorted(hass.states.async_entity_ids("automation"))
    assert state.state == "on"  # a config error would leave it unavailable
    if name == "emhass_schedule.yaml":
        hass.states.async_set("sensor.p_deferrable0", "3680", {"deferrables_schedule": EMHASS_ROWS})
        await hass.async_block_till_done()
        local = rig.engine.profiles.local(1)
        assert [(p.start, p.watts) for p in local] == EMHASS_EXPECTED
