"""The firmware README documents what the code does: the entity table, the EVSE states, the
fault codes and the example configuration."""

from __future__ import annotations

import re

from evse import config, control, disco

from tests.firmware.conftest import FIRMWARE

README = (FIRMWARE / "README.md").read_text(encoding="utf-8")


def table_column(prefix: str) -> list[str]:
    """First backticked cell of every table row whose first cell starts with `prefix`."""
    return re.findall(r"^\| `(" + re.escape(prefix) + r"[^`]*)` \|", README, re.M)


def test_entity_table_matches_discovery() -> None:
    documented = [
        x
        for x in table_column("")
        if re.match(r"^(switch|number|sensor|binary_sensor|button)\.<node_id>_", x)
    ]
    expected = [f"{row[0]}.<node_id>_{row[1]}" for row in disco.rows()]
    assert documented == expected


def test_entity_table_state_fields() -> None:
    rows = re.findall(
        r"^\| `[a-z_]+\.<node_id>_([a-z0-9_]+)` \|.*\| (`[a-z0-9]+`|—) \|$", README, re.M
    )
    fields = {key: field.strip("`") for key, field in rows}
    for row in disco.rows():
        assert fields[row[1]] == (row[3] or "—"), row


def test_states_and_faults_documented() -> None:
    states = set(table_column("")) & set(control.STATES)
    assert states == set(control.STATES)
    documented = set(table_column(""))
    assert set(control.FAULTS) | {control.OVER_TEMP} <= documented


def test_every_setting_documented() -> None:
    for path, *_ in config.rows():
        key = path.split(".")[-1]
        assert key in README, path


def test_example_config_validates() -> None:
    cfg = config.loads((FIRMWARE / "config.example.json").read_text(encoding="utf-8"))
    assert cfg["meter"]["type"] == "sdm630"
