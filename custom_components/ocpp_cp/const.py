"""Constants of the ocpp_cp integration (the HA layer; the engine has its own)."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "ocpp_cp"

# Connection (config entry data)
CONF_CSMS_URL: Final = "csms_url"
CONF_CHARGE_POINT_ID: Final = "charge_point_id"
CONF_SECURITY_PROFILE: Final = "security_profile"
CONF_AUTHORIZATION_KEY: Final = "authorization_key"
CONF_CA_FILE: Final = "ca_file"
CONF_CLIENT_CERT: Final = "client_cert_file"
CONF_CLIENT_KEY: Final = "client_key_file"
# TLS with real-world PKIs: a pinned CA that may be an X.509 v1 root, an expected server name.
CONF_TLS_ALLOW_V1_CA: Final = "tls_allow_v1_ca"
CONF_TLS_SERVER_NAME: Final = "tls_server_name"
CONF_VENDOR: Final = "vendor"
CONF_MODEL: Final = "model"
CONF_SERIAL: Final = "serial_number"
CONF_FIRMWARE: Final = "firmware_version"
CONF_CONNECTORS: Final = "number_of_connectors"

# Mapping (config entry options): options[CONF_MAPPING][str(connector_id)] = {key: value}
CONF_MAPPING: Final = "mapping"
MAP_CHARGE_SWITCH: Final = "charge_switch"  # switch / input_boolean that enables charging
# True: the charge switch is on when charging is paused (a "pause" or "block" switch).
MAP_CHARGE_SWITCH_INVERTED: Final = "charge_switch_inverted"
MAP_CURRENT_NUMBER: Final = "current_number"  # number / input_number that sets the limit, A
MAP_PLUG: Final = "plug_sensor"  # binary_sensor: on = plugged
MAP_STATUS: Final = "status_sensor"  # sensor whose text maps to an OCPP status
MAP_STATUS_MAPPING: Final = "status_mapping"  # {"text": "OCPP status"}
MAP_POWER: Final = "power"
MAP_ENERGY: Final = "energy"
MAP_VOLTAGE: Final = "voltage"
MAP_VOLTAGE_L1: Final = "voltage_l1"
MAP_VOLTAGE_L2: Final = "voltage_l2"
MAP_VOLTAGE_L3: Final = "voltage_l3"
MAP_CURRENT: Final = "current"
MAP_CURRENT_L1: Final = "current_l1"
MAP_CURRENT_L2: Final = "current_l2"
MAP_CURRENT_L3: Final = "current_l3"
MAP_CURRENT_OFFERED: Final = "current_offered"
MAP_TEMPERATURE: Final = "temperature"
MAP_SOC: Final = "soc"
MAP_SOC_GATE: Final = "soc_gate"  # binary_sensor / device_tracker: "this car is connected"
MAP_FREQUENCY: Final = "frequency"
MAP_POWER_FACTOR: Final = "power_factor"
MAP_MAX_CURRENT: Final = "max_current"  # sensor / number holding the hardware max, A
MAP_PHASES: Final = "phases"  # 1 or 3 (a number in the mapping, not an entity)
MAP_NOMINAL_VOLTAGE: Final = "nominal_voltage"  # V (a number in the mapping)
# MQTT base topic of the companion firmware (firmware/micropython) whose charge switch this is;
# the bridge sends it a heartbeat on <topic>/heartbeat/set. Set by the flow, not an entity.
MAP_FIRMWARE_TOPIC: Final = "firmware_topic"
# Flow form field: the firmware device whose entities fill in a mapping.
CONF_FIRMWARE_DEVICE: Final = "firmware_device"
# Flow form field: a device of a supported EV-charger integration (charger_presets.py).
CONF_CHARGER_DEVICE: Final = "charger_device"

# Behaviour (config entry options)
OPT_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"  # pinned, s; None = the CSMS decides
OPT_METER_INTERVAL: Final = "meter_interval"  # pinned MeterValueSampleInterval, s
OPT_FREEZE_CURRENT_OFFERED: Final = "freeze_current_offered"
OPT_DEFAULT_ID_TAG: Final = "default_id_tag"

DEFAULT_ID_TAG: Final = "ocpp_cp"
DEFAULT_VENDOR: Final = "ocpp_cp"
DEFAULT_MODEL: Final = "Home Assistant"
DEFAULT_NOMINAL_VOLTAGE: Final = 230
DEFAULT_PHASES: Final = 1
DEFAULT_MAX_CURRENT: Final = 16

OCPP_STATUSES: Final = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)

# Event fired on every CSMS request that concerns the hardware; data["kind"] says which.
EVENT_CSMS_REQUEST: Final = f"{DOMAIN}_csms_request"

# Site fuse guard (config entry options): options[OPT_SITE_GUARD] = {GUARD_*: value} or absent
OPT_SITE_GUARD: Final = "site_guard"
GUARD_ENABLED: Final = "enabled"
GUARD_GRID_L1: Final = "grid_current_l1"  # sensor, A
GUARD_GRID_L2: Final = "grid_current_l2"
GUARD_GRID_L3: Final = "grid_current_l3"
GUARD_GRID_POWER: Final = "grid_power"  # sensor, W (instead of the currents)
GUARD_GRID_VOLTAGE: Final = "grid_voltage"  # V, to turn the grid power into amps
GUARD_FUSE: Final = "fuse_current"  # A
GUARD_MARGIN: Final = "safety_margin"  # A
GUARD_REACTION: Final = "reaction_time"  # s
GUARD_INCREASE_INTERVAL: Final = "increase_interval"  # s
GUARD_FALLBACK: Final = "fallback_current"  # A
GUARD_STALE: Final = "stale_timeout"  # s
# Fired when the grid current stayed above the fuse rating for longer than the reaction time.
EVENT_SITE_FUSE_EXCEEDED: Final = f"{DOMAIN}_site_fuse_exceeded"
# Event fired on every security event of the 1.6 security whitepaper (type, tech_info, critical).
EVENT_SECURITY_EVENT: Final = f"{DOMAIN}_security_event"
