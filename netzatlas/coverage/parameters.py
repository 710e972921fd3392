"""Run parameters: declared once per analysis (type, default, range, meaning), validated in one place.

The CLI's --set/--params, the OGC API process descriptions and the run rows all derive from PARAMETERS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netzatlas.coverage.pathloss import LOS_MODES, MODELS
from netzatlas.coverage.radio import BUILDINGS
from netzatlas.registry.kinds import KINDS_BY_ID

ANALYSES = ("fiber", "mobile", "iot")
SENSOR_TYPES = KINDS_BY_ID["sensors"].attribute("sensor_type").codes  # type: ignore[union-attr]
DEFAULT_SERVICE_RADIUS_M = {
    "air_quality": 1000.0,
    "noise": 500.0,
    "traffic_counter": 500.0,
    "parking": 250.0,
    "water_level": 2000.0,
    "weather": 2000.0,
    "soil_moisture": 1000.0,
    "waste_level": 300.0,
}

# LoRa receiver sensitivity at 125 kHz bandwidth per spreading factor, Semtech SX1276/77/78/79 datasheet, table
# "LoRa receiver specification" (RFS_L125, high-frequency band). A gateway's SX130x concentrator is a few dB
# better: the SX1276 figures are conservative for the gateway's side of the uplink.
LORAWAN_SENSITIVITY_DBM = {"SF7": -123.0, "SF8": -126.0, "SF9": -129.0, "SF10": -132.0, "SF11": -134.5, "SF12": -137.0}
# Coupling loss = loss between the antenna connectors, antenna gains included (3GPP TR 36.888 section 5).
# NB-IoT: 3GPP TR 45.820 designs for an MCL of 164 dB, 20 dB beyond the 144 dB of GPRS; CE0 up to 144 dB (normal
# coverage), CE1 up to 154 dB, CE2 up to 164 dB. The network sets the CE levels by RSRP thresholds (TS 36.331
# rsrp-ThresholdsPrachInfoList); 144/154/164 dB is the run's assumption of the usual split.
NBIOT_CE_DB = {"CE0": 144.0, "CE1": 154.0, "CE2": 164.0}
# LTE-M: 3GPP TR 36.888 takes LTE's MCL of 140.7 dB (FDD) and targets 15 dB more, 155.7 dB; CE0 is LTE's coverage,
# CE1 the enhanced coverage up to the target (the run's assumption of the split).
LTEM_CE_DB = {"CE0": 140.7, "CE1": 155.7}


class ParameterError(ValueError):
    """A bad run parameter; the message names it and says what is allowed."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # number | string | boolean | object
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    unit: str | None = None

    def schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.default is not None:
            s["default"] = self.default
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        if self.enum:
            s["enum"] = list(self.enum)
        if self.unit:
            s["x-unit"] = self.unit
        return s


RESOLUTION = Param("resolution_m", "number", 25.0, "Raster resolution in EPSG:25832", 1.0, 1000.0, unit="m")
DROP = Param(
    "drop_distance_m", "number", 50.0, "A building within this distance of fiber is passed", 0.0, 1000.0, unit="m"
)
RADIO_COMMON = (
    Param(
        "model", "string", "uma", "Path loss model: 3GPP TR 38.901 UMa or UMi street canyon, COST-231 Hata", enum=MODELS
    ),
    Param(
        "los",
        "string",
        "percentile",
        "Clutter line of sight by 3GPP TR 38.901 table 7.4.2-1's LOS probability: percentile (the level reached at "
        "los_reliability_pct % of locations at each distance), expected (probability-weighted path gain), or "
        "every path los or nlos (max of LOS and NLOS loss); or buildings: each path is LOS when the line from the "
        "antenna's top to the receiver clears the registry's building footprints with their heights, NLOS "
        "otherwise; not used by COST-231 Hata",
        enum=(*LOS_MODES, BUILDINGS),
    ),
    Param(
        "building_height_m",
        "number",
        9.0,
        "los=buildings: height of a building whose delivery gives neither height_m nor levels (levels x 3 m "
        "otherwise); the run counts and lists the buildings it applied to",
        2.0,
        300.0,
        unit="m",
    ),
    Param(
        "los_reliability_pct",
        "number",
        50.0,
        "Percentile mode: share of locations at a distance where the level is reached (LOS loss where P_LOS is at "
        "least this share, NLOS loss elsewhere)",
        1.0,
        99.0,
        unit="%",
    ),
    Param(
        "hata_environment",
        "string",
        "medium",
        "COST-231 Hata city type (Cm 0 or 3 dB)",
        enum=("medium", "metropolitan"),
    ),
    Param("ue_height_m", "number", 1.5, "Receiver height above ground", 1.0, 22.5, unit="m"),
    Param("indoor_loss_db", "number", 0.0, "Building entry loss subtracted from every level", 0.0, 40.0, unit="dB"),
    Param(
        "max_range_m", "number", 5000.0, "No transmitter is evaluated beyond this distance", 100.0, 20000.0, unit="m"
    ),
    Param(
        "dem",
        "string",
        None,
        "DEM GeoTIFF for terrain diffraction (ITU-R P.526 Bullington, optional): a path on the command line; "
        "through the API the name of a file in the server's DEM directory (NETZATLAS_DEM_DIR)",
    ),
)

# Which assets a run reads. Its results are as confidential as the most confidential input (migration 0006),
# so a run meant for the public is computed from public assets only.
INPUTS = Param(
    "inputs",
    "string",
    "all",
    "Assets the run reads: all (the run is as confidential as its most confidential input) or public (public "
    "assets only; the run and all its outputs are public)",
    enum=("all", "public"),
)

PARAMETERS: dict[str, tuple[Param, ...]] = {
    "fiber": (
        INPUTS,
        DROP,
        Param(
            "entry_distance_m",
            "number",
            5.0,
            "A building-entry node this close to a building connects it",
            0.0,
            100.0,
            unit="m",
        ),
        Param(
            "distribution_nodes",
            "string",
            "pop,street_cabinet,splice_closure",
            "Node types that pass buildings like routes (comma-separated)",
        ),
    ),
    "mobile": (
        INPUTS,
        RESOLUTION,
        *RADIO_COMMON,
        Param(
            "threshold_dbm",
            "number",
            -110.0,
            "RSRP at or above which a pixel is covered (basic outdoor)",
            -156.0,
            -31.0,
            unit="dBm",
        ),
        Param("good_threshold_dbm", "number", -100.0, "RSRP for 'good' coverage", -156.0, -31.0, unit="dBm"),
    ),
    "iot": (
        INPUTS,
        RESOLUTION,
        *RADIO_COMMON,
        Param(
            "device_eirp_dbm",
            "number",
            14.0,
            "LoRaWAN device EIRP (uplink): 14 dBm, the usual EU868 end-device power (ETSI EN 300 220 25 mW ERP)",
            -10.0,
            27.0,
            unit="dBm",
        ),
        Param(
            "gateway_antenna_gain_dbi",
            "number",
            3.0,
            "LoRaWAN gateway antenna gain less cable loss (the run's assumption where the registry has none)",
            -10.0,
            15.0,
            unit="dBi",
        ),
        Param(
            "lorawan_sensitivity_dbm",
            "object",
            LORAWAN_SENSITIVITY_DBM,
            "Gateway receiver sensitivity per spreading factor at 125 kHz (Semtech SX1276 datasheet); the best "
            "(lowest) SF whose sensitivity the uplink level reaches closes the link",
        ),
        Param("lorawan_frequency_mhz", "number", 868.0, "LoRaWAN frequency", 400.0, 1000.0, unit="MHz"),
        Param(
            "sector_antenna_gain_dbi",
            "number",
            17.0,
            "Boresight gain of LTE sector antennas, to turn EIRP into coupling loss (the run's assumption)",
            0.0,
            25.0,
            unit="dBi",
        ),
        Param(
            "nbiot_ce_coupling_loss_db",
            "object",
            NBIOT_CE_DB,
            "NB-IoT coverage enhancement levels: highest coupling loss per level (3GPP TR 45.820: MCL 164 dB)",
        ),
        Param(
            "ltem_ce_coupling_loss_db",
            "object",
            LTEM_CE_DB,
            "LTE-M coverage levels: highest coupling loss per level (3GPP TR 36.888: MCL 155.7 dB)",
        ),
        Param("gateway_height_m", "number", 15.0, "Height of gateways that do not state one", 1.0, 300.0, unit="m"),
        Param(
            "mobile_run", "string", "latest", "Mobile run for NB-IoT/LTE-M/LTE/5G ('latest' succeeded one, or a run id)"
        ),
        DROP,
        Param(
            "service_radius_m", "object", DEFAULT_SERVICE_RADIUS_M, "Service radius per sensor type for density gaps"
        ),
    ),
}


def describe(analysis: str) -> dict[str, dict[str, Any]]:
    return {p.name: p.schema() for p in PARAMETERS[analysis]}


def _coerce(p: Param, value: Any) -> Any:
    if p.type == "number":
        if isinstance(value, bool):
            raise ParameterError(f"{p.name}: expected a number, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{p.name}: expected a number, got {value!r}") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ParameterError(f"{p.name}: expected a finite number, got {value!r}")
        if (p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum):
            raise ParameterError(
                f"{p.name}: {v:g} is out of range [{p.minimum:g}, {p.maximum:g}] {p.unit or ''}".rstrip()
            )
        return v
    if p.type == "object":
        if isinstance(value, str):
            import orjson

            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ParameterError(f"{p.name}: expected a JSON object") from None
        if not isinstance(value, Mapping):
            raise ParameterError(f"{p.name}: expected an object")
        return value
    if value is None:
        return None
    v = str(value)
    if p.enum and v not in p.enum:
        raise ParameterError(f"{p.name}: unknown value {v!r}; allowed: {', '.join(p.enum)}")
    return v


def validate(analysis: str, given: Mapping[str, Any], dem_root: Path | None = None) -> dict[str, Any]:
    """Complete parameters with defaults and check every one; raises ParameterError on the first problem.
    With `dem_root` (a request through the API) a DEM must be a file in that directory."""
    if analysis not in PARAMETERS:
        raise ParameterError(f"unknown analysis {analysis!r}; known: {', '.join(ANALYSES)}")
    spec = {p.name: p for p in PARAMETERS[analysis]}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for {analysis}; known: {', '.join(spec)}")
    out = {name: (_coerce(p, given[name]) if name in given else p.default) for name, p in spec.items()}
    if analysis == "mobile" and out["good_threshold_dbm"] < out["threshold_dbm"]:
        raise ParameterError("good_threshold_dbm must not be below threshold_dbm")
    if "service_radius_m" in out:
        radii = {**DEFAULT_SERVICE_RADIUS_M, **out["service_radius_m"]}
        for k, v in radii.items():
            if k not in SENSOR_TYPES:
                raise ParameterError(f"service_radius_m: unknown sensor type {k!r}; known: {', '.join(SENSOR_TYPES)}")
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v <= 20000:
                raise ParameterError(f"service_radius_m.{k}: expected a number in (0, 20000] m")
        out["service_radius_m"] = {k: float(radii[k]) for k in SENSOR_TYPES}
    for name, default, lo, hi in (
        ("lorawan_sensitivity_dbm", LORAWAN_SENSITIVITY_DBM, -160.0, -80.0),
        ("nbiot_ce_coupling_loss_db", NBIOT_CE_DB, 100.0, 200.0),
        ("ltem_ce_coupling_loss_db", LTEM_CE_DB, 100.0, 200.0),
    ):
        if name in out:
            given_levels = dict(out[name])
            for k, v in given_levels.items():
                if k not in default:
                    raise ParameterError(f"{name}: unknown level {k!r}; known: {', '.join(default)}")
                if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
                    raise ParameterError(f"{name}.{k}: expected a number in [{lo:g}, {hi:g}]")
            out[name] = {k: float(given_levels.get(k, d)) for k, d in default.items()}
    if "distribution_nodes" in out:
        from netzatlas.registry.kinds import KINDS_BY_ID as K

        codes = K["network-nodes"].attribute("node_type").codes  # type: ignore[union-attr]
        types = [t.strip() for t in out["distribution_nodes"].split(",") if t.strip()]
        bad = [t for t in types if t not in codes]
        if bad:
            raise ParameterError(
                f"distribution_nodes: unknown node type(s) {', '.join(bad)}; known: {', '.join(codes)}"
            )
        out["distribution_nodes"] = ",".join(types)
    if out.get("model") == "hata" and out.get("los") == BUILDINGS:
        raise ParameterError("los: COST-231 Hata has no LOS and NLOS states; buildings needs model uma or umi")
    if out.get("model") == "hata" and not 1.0 <= out["ue_height_m"] <= 10.0:
        raise ParameterError("ue_height_m: COST-231 Hata is defined for 1-10 m")
    if out.get("dem"):
        out["dem"] = str(_dem_path(out["dem"], dem_root))
    return out


def _dem_path(given: str, root: Path | None) -> Path:
    """The DEM file: any path for the local user; with `root` (requests through the API), a file in it."""
    path = Path(given).expanduser()
    if root is not None:
        path = (root / given).resolve()
        if Path(given).is_absolute() or not path.is_relative_to(root):
            raise ParameterError(
                f"dem: give the name of a GeoTIFF in the server's DEM directory, not a path ({given!r})"
            )
    if not path.is_file():
        raise ParameterError(f"dem: no such file {given!r}" + (" in the server's DEM directory" if root else ""))
    return path


def parse_set(items: list[str]) -> dict[str, Any]:
    """k=v pairs from the command line (values stay strings or JSON objects; validate() types them)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out
