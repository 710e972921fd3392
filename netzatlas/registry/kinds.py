"""Asset kinds: each declared once; tables, validation, queryables and templates derive from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from netzatlas.registry import bands

AttrType = Literal["string", "integer", "number", "boolean", "date"]
GeometryType = Literal["Point", "LineString"]

STATUSES: tuple[str, ...] = (
    "planned",
    "under_construction",
    "in_service",
    "out_of_service",
    "decommissioned",
)
SENSITIVITIES: tuple[str, ...] = ("public", "internal", "critical")
CONNECTIVITY: tuple[str, ...] = ("lorawan", "nbiot", "ltem", "lte", "5g", "fiber", "wifi", "none")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: AttrType
    title: str
    required: bool = False
    codes: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Kind:
    id: str  # collection id: kebab-case, no dots (QGIS breaks on dots)
    title: str
    description: str
    geometry: GeometryType
    default_sensitivity: str
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)
    # mobile sites carry the operators that use them and their antennas, each with its cells
    # (attributes.operators, attributes.antennas[].cells[]; ANTENNA_ATTRIBUTES, CELL_ATTRIBUTES)
    has_antennas: bool = False

    @property
    def partition(self) -> str:
        return "assets_" + self.id.replace("-", "_")

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


# Mobile sites as operators and the Bundesnetzagentur hold them: a site (one asset, whoever delivers it) is used by
# one or more operators (attributes.operators) and carries antennas (attributes.antennas); each antenna belongs
# to one operator and carries cells (antennas[].cells). Antennas and cells are part of the site's versioned
# state (asset_history), so "as of" reads return them as they were. What a delivery leaves out (heights, tilt,
# vertical beamwidth, bandwidth, EIRP) the coverage engine takes from declared defaults (coverage/defaults.py).
MAX_ANTENNAS = 500  # per site
MAX_CELLS = 100  # per antenna

ANTENNA_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("antenna_id", "string", "Antenna id, unique per operator at the site", required=True),
    Attribute("operator", "string", "Operator id of the antenna", required=True),
    Attribute(
        "azimuth_deg", "number", "Azimuth of boresight, clockwise from north", minimum=0, maximum=360, unit="deg"
    ),
    Attribute("omnidirectional", "boolean", "Omnidirectional (no azimuth, no horizontal pattern)"),
    Attribute("height_m", "number", "Antenna height above ground", minimum=0.5, maximum=300, unit="m"),
    Attribute("mech_tilt_deg", "number", "Mechanical downtilt", minimum=-10, maximum=30, unit="deg"),
    Attribute("elec_tilt_deg", "number", "Electrical downtilt", minimum=-10, maximum=30, unit="deg"),
    Attribute("h_beamwidth_deg", "number", "Horizontal 3 dB beamwidth", minimum=1, maximum=360, unit="deg"),
    Attribute("v_beamwidth_deg", "number", "Vertical 3 dB beamwidth", minimum=1, maximum=180, unit="deg"),
    Attribute("gain_dbi", "number", "Boresight gain", minimum=-10, maximum=40, unit="dBi"),
    Attribute("model", "string", "Antenna model"),
)
CELL_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("cell_id", "string", "Cell id, unique at the antenna", required=True),
    Attribute("technology", "string", "Radio access technology (from the band when not given)", codes=("LTE", "NR")),
    Attribute("band", "string", "3GPP operating band (registry/data/bands.csv)", required=True, codes=bands.codes()),
    Attribute(
        "frequency_mhz", "number", "Downlink centre frequency of the carrier", minimum=400, maximum=52600, unit="MHz"
    ),
    Attribute("bandwidth_mhz", "number", "Carrier bandwidth", minimum=1.4, maximum=400, unit="MHz"),
    Attribute("eirp_dbm", "number", "EIRP of the carrier", minimum=0, maximum=90, unit="dBm"),
    Attribute("tx_power_dbm", "number", "Transmit power at the antenna connector", minimum=-10, maximum=70, unit="dBm"),
    Attribute("status", "string", "Lifecycle status of the cell (the site's when not given)", codes=STATUSES),
)
# The legacy delivery shape (one band per sector): an import target that becomes one antenna with one cell each.
SECTOR_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("sector", "integer", "Sector number at the site", required=True, minimum=1, maximum=999),
    Attribute("technology", "string", "Radio access technology", codes=("LTE", "NR")),
    Attribute("band", "string", "3GPP band", required=True, codes=bands.codes()),
    Attribute("frequency_mhz", "number", "Centre frequency", minimum=400, maximum=52600, unit="MHz"),
    Attribute(
        "azimuth_deg", "number", "Azimuth of boresight, clockwise from north", minimum=0, maximum=360, unit="deg"
    ),
    Attribute("mech_tilt_deg", "number", "Mechanical downtilt", minimum=-10, maximum=30, unit="deg"),
    Attribute("elec_tilt_deg", "number", "Electrical downtilt", minimum=-10, maximum=30, unit="deg"),
    Attribute("height_m", "number", "Antenna height above ground", minimum=0.5, maximum=300, unit="m"),
    Attribute("eirp_dbm", "number", "EIRP", minimum=0, maximum=90, unit="dBm"),
    Attribute("bandwidth_mhz", "number", "Channel bandwidth", minimum=1.4, maximum=400, unit="MHz"),
    Attribute("h_beamwidth_deg", "number", "Horizontal 3 dB beamwidth", minimum=1, maximum=360, unit="deg"),
    Attribute("v_beamwidth_deg", "number", "Vertical 3 dB beamwidth", minimum=1, maximum=180, unit="deg"),
)
STRUCTURES = ("rooftop", "mast", "tower", "street_furniture", "indoor", "other")

KINDS: tuple[Kind, ...] = (
    Kind(
        id="fiber-routes",
        title="Fiber routes",
        description="Trenches, ducts and cables of fiber networks.",
        geometry="LineString",
        default_sensitivity="internal",
        attributes=(
            Attribute(
                "route_type", "string", "Trench, duct or cable", required=True, codes=("trench", "duct", "cable")
            ),
            Attribute("fibre_count", "integer", "Number of fibres", minimum=0, maximum=10000),
            Attribute("duct_count", "integer", "Number of ducts", minimum=0, maximum=100),
            Attribute(
                "laying_method",
                "string",
                "Laying method",
                codes=("open_trench", "microtrench", "directional_drilling", "ploughing", "aerial", "existing_duct"),
            ),
            Attribute("surface", "string", "Surface above the route", codes=("sealed", "unsealed")),
        ),
    ),
    Kind(
        id="network-nodes",
        title="Network nodes",
        description="Points of presence, street cabinets, splice closures, manholes and building entries.",
        geometry="Point",
        default_sensitivity="internal",
        attributes=(
            Attribute(
                "node_type",
                "string",
                "Node type",
                required=True,
                codes=("pop", "street_cabinet", "splice_closure", "manhole", "building_entry"),
            ),
            Attribute("ports", "integer", "Number of ports", minimum=0, maximum=100000),
        ),
    ),
    Kind(
        id="mobile-sites",
        title="Mobile sites",
        description="Mobile network sites with the operators that use them, their antennas and cells (LTE, NR).",
        geometry="Point",
        default_sensitivity="public",
        attributes=(
            Attribute("structure", "string", "Supporting structure", codes=STRUCTURES),
            Attribute("height_m", "number", "Height of the structure above ground", minimum=0, maximum=400, unit="m"),
            Attribute(
                "ground_height_m", "number", "Terrain height above sea level", minimum=-100, maximum=5000, unit="m"
            ),
        ),
        has_antennas=True,
    ),
    Kind(
        id="sensors",
        title="Sensors",
        description="Sensors of the city and its partners, with what they measure and how they connect.",
        geometry="Point",
        default_sensitivity="public",
        attributes=(
            Attribute(
                "sensor_type",
                "string",
                "Sensor type",
                required=True,
                codes=(
                    "air_quality",
                    "noise",
                    "traffic_counter",
                    "parking",
                    "water_level",
                    "weather",
                    "soil_moisture",
                    "waste_level",
                ),
            ),
            Attribute("measured_quantity", "string", "Measured quantity, e.g. NO2, PM10, dB(A)"),
            Attribute("connectivity", "string", "How the sensor connects", required=True, codes=CONNECTIVITY),
            Attribute("owner_department", "string", "Owning department"),
            Attribute("datastream_url", "string", "Link to the sensor's data stream"),
        ),
    ),
    Kind(
        id="actuators",
        title="Actuators",
        description="Controllable devices in public space: street lights, signals, barriers, valves, displays.",
        geometry="Point",
        default_sensitivity="public",
        attributes=(
            Attribute(
                "actuator_type",
                "string",
                "Actuator type",
                required=True,
                codes=("street_light", "traffic_signal", "barrier", "valve", "display"),
            ),
            Attribute("connectivity", "string", "How the actuator connects", required=True, codes=CONNECTIVITY),
            Attribute("controllable", "boolean", "Remotely controllable"),
            Attribute("owner_department", "string", "Owning department"),
        ),
    ),
    Kind(
        id="iot-gateways",
        title="IoT gateways",
        description="LoRaWAN and other IoT gateways.",
        geometry="Point",
        default_sensitivity="public",
        attributes=(
            Attribute("technology", "string", "Radio technology", required=True, codes=("lorawan", "mioty", "wmbus")),
            Attribute(
                "height_m", "number", "Antenna height above ground", required=True, minimum=1, maximum=300, unit="m"
            ),
            Attribute("frequency_mhz", "number", "Frequency", minimum=100, maximum=6000, unit="MHz"),
            Attribute("eirp_dbm", "number", "EIRP", minimum=0, maximum=40, unit="dBm"),
        ),
    ),
)

KINDS_BY_ID: dict[str, Kind] = {k.id: k for k in KINDS}


def get_kind(kind_id: str) -> Kind:
    try:
        return KINDS_BY_ID[kind_id]
    except KeyError:
        raise UnknownKind(kind_id) from None


class UnknownKind(LookupError):
    def __init__(self, kind_id: str) -> None:
        super().__init__(f"unknown asset kind '{kind_id}'; known kinds: {', '.join(KINDS_BY_ID)}")
        self.kind_id = kind_id
