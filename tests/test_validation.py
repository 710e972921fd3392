"""Kind declarations reject bad assets with messages that name the field."""

import pytest

from netzatlas.registry.kinds import KINDS, get_kind
from netzatlas.registry.service import _prepare
from netzatlas.registry.validation import ValidationError

POINT = {"type": "Point", "coordinates": [455000.0, 5495000.0]}
LINE = {"type": "LineString", "coordinates": [[455000.0, 5495000.0], [455100.0, 5495050.0]]}


def fields(**kw):
    base = {"status": "planned", "sensitivity": "public", "external_id": "x1", "attributes": {}, "geometry": POINT}
    return {**base, **kw}


def problems(kind: str, **kw) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        _prepare(kind, fields(**kw), partial=False)
    return [str(p) for p in exc.value.problems]


def test_wrong_geometry_type_names_geometry():
    msgs = problems("fiber-routes", attributes={"route_type": "cable"}, geometry=POINT)
    assert msgs == ["geometry: expected LineString for fiber-routes, got Point"]


def test_unknown_code_value_names_field_and_allowed_codes():
    msgs = problems("sensors", attributes={"sensor_type": "telepathy", "connectivity": "lorawan"})
    assert len(msgs) == 1
    assert msgs[0].startswith("attributes.sensor_type: unknown code 'telepathy'; allowed: air_quality")


def test_missing_required_attribute_names_field():
    msgs = problems("actuators", attributes={"actuator_type": "barrier"})
    assert msgs == ["attributes.connectivity: required attribute missing"]


def test_several_problems_are_all_reported():
    msgs = problems(
        "iot-gateways",
        status="built",
        attributes={"technology": "lorawan", "height_m": "high", "colour": "red"},
    )
    assert (
        "status: unknown status 'built'; allowed: planned, under_construction, in_service, out_of_service, "
        "decommissioned" in msgs
    )
    assert "attributes.colour: unknown attribute" in msgs
    assert "attributes.height_m: expected a number, got 'high'" in msgs


def test_range_and_type_checks():
    msgs = problems("fiber-routes", attributes={"route_type": "cable", "fibre_count": 2.5}, geometry=LINE)
    assert msgs == ["attributes.fibre_count: expected an integer, got 2.5"]
    msgs = problems("fiber-routes", attributes={"route_type": "cable", "fibre_count": -1}, geometry=LINE)
    assert msgs == ["attributes.fibre_count: -1 is below the minimum 0"]


def test_legacy_sectors_become_antennas_with_one_cell():
    sector = {
        "sector": 1,
        "technology": "NR",
        "band": "n78",
        "frequency_mhz": 3600,
        "azimuth_deg": 0,
        "height_m": 30,
        "eirp_dbm": 60,
        "bandwidth_mhz": 100,
    }
    ok = _prepare("mobile-sites", fields(attributes={"sectors": [sector]}), partial=False, operator="telco")
    attrs = ok["attributes"].obj
    assert "sectors" not in attrs and attrs["operators"] == ["telco"]
    assert attrs["antennas"] == [
        {
            "antenna_id": "S1",
            "operator": "telco",
            "azimuth_deg": 0,
            "height_m": 30,
            "cells": [
                {
                    "cell_id": "1",
                    "technology": "NR",
                    "band": "n78",
                    "frequency_mhz": 3600,
                    "bandwidth_mhz": 100,
                    "eirp_dbm": 60,
                }
            ],
        }
    ]
    msgs = problems("mobile-sites", attributes={"sectors": [sector, {**sector, "band": "n999"}]})
    assert any(m.startswith("attributes.sectors[1].band: unknown code 'n999'; allowed: B1, B3") for m in msgs)
    assert "attributes.sectors: sector numbers must be unique at a site" in msgs


def test_antennas_and_cells_shared_site_omni_and_band_codes():
    site = {
        "structure": "rooftop",
        "operators": ["telco", "city"],
        "antennas": [
            {
                "antenna_id": "A1",
                "operator": "telco",
                "azimuth_deg": 120,
                "cells": [{"cell_id": "c1", "band": "B1"}, {"cell_id": "c2", "band": "B32"}],
            },
            {
                "antenna_id": "A1",
                "operator": "city",
                "omnidirectional": True,
                "cells": [{"cell_id": "x", "band": "N78"}],
            },
        ],
    }
    ok = _prepare("mobile-sites", fields(attributes=site), partial=False)["attributes"].obj
    assert ok["operators"] == ["telco", "city"]
    city, telco = ok["antennas"]
    assert city["omnidirectional"] is True and "azimuth_deg" not in city
    assert city["cells"] == [{"cell_id": "x", "band": "n78", "technology": "NR"}]
    assert [c["technology"] for c in telco["cells"]] == ["LTE", "LTE"]
    bad = {
        "operators": ["telco"],
        "antennas": [
            {"antenna_id": "A1", "operator": "other", "cells": [{"cell_id": "c", "band": "B1", "technology": "NR"}]},
            {
                "antenna_id": "A2",
                "operator": "telco",
                "omnidirectional": True,
                "azimuth_deg": 10,
                "cells": [{"cell_id": "c", "band": "B20", "frequency_mhz": 2000}, {"cell_id": "c", "band": "B99"}],
            },
        ],
    }
    msgs = problems("mobile-sites", attributes=bad)
    assert "attributes.antennas[0].azimuth_deg: required unless omnidirectional is true" in msgs
    assert "attributes.antennas[0].operator: 'other' is not among the site's operators (telco)" in msgs
    assert "attributes.antennas[0].cells[0].technology: NR does not match band B1 (LTE)" in msgs
    assert "attributes.antennas[1].azimuth_deg: an omnidirectional antenna has no azimuth" in msgs
    assert (
        "attributes.antennas[1].cells[0].frequency_mhz: 2000 MHz lies outside the downlink of band B20 (791-821 MHz)"
        in msgs
    )
    assert any(m.startswith("attributes.antennas[1].cells[1].band: unknown code 'B99'") for m in msgs)
    assert "attributes.antennas[1].cells[1].cell_id: 'c' twice at the antenna" in msgs


@pytest.mark.parametrize("coords", [[float("nan"), 5495000.0], [float("inf"), 1.0]])
def test_non_finite_coordinates_rejected(coords):
    msgs = problems(
        "sensors",
        attributes={"sensor_type": "noise", "connectivity": "wifi"},
        geometry={"type": "Point", "coordinates": coords},
    )
    assert msgs == ["geometry: coordinates must be finite numbers"]


def test_kind_ids_are_kebab_case_without_dots():
    for k in KINDS:
        assert k.id == k.id.lower() and "." not in k.id and "_" not in k.id
        assert get_kind(k.id) is k
