"""Conformance classes declared at /conformance; each has a test in tests/test_api_conformance.py."""

from netzatlas.catalog.records import CONFORMANCE as RECORDS

FEATURES = "http://www.opengis.net/spec/ogcapi-features-{part}/1.0/conf/{name}"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/{name}"
TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{name}"
PROCESSES = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/{name}"

CONFORMANCE: tuple[str, ...] = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    FEATURES.format(part=1, name="core"),
    FEATURES.format(part=1, name="geojson"),
    FEATURES.format(part=1, name="html"),
    FEATURES.format(part=1, name="oas30"),
    FEATURES.format(part=2, name="crs"),
    FEATURES.format(part=3, name="queryables"),
    FEATURES.format(part=3, name="queryables-query-parameters"),
    FEATURES.format(part=3, name="filter"),
    FEATURES.format(part=3, name="features-filter"),
    FEATURES.format(part=4, name="create-replace-delete"),
    FEATURES.format(part=4, name="update"),
    FEATURES.format(part=4, name="optimistic-locking-etags"),
    FEATURES.format(part=4, name="features"),
    CQL2.format(name="cql2-text"),
    CQL2.format(name="cql2-json"),
    CQL2.format(name="basic-cql2"),
    CQL2.format(name="advanced-comparison-operators"),
    CQL2.format(name="case-insensitive-comparison"),
    CQL2.format(name="basic-spatial-functions"),
    CQL2.format(name="basic-spatial-functions-plus"),
    CQL2.format(name="spatial-functions"),
    CQL2.format(name="temporal-functions"),
    CQL2.format(name="property-property"),
    TILES.format(name="core"),
    TILES.format(name="tileset"),
    TILES.format(name="tilesets-list"),
    TILES.format(name="geodata-tilesets"),
    TILES.format(name="dataset-tilesets"),
    TILES.format(name="mvt"),
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    PROCESSES.format(name="core"),
    PROCESSES.format(name="ogc-process-description"),
    PROCESSES.format(name="json"),
    PROCESSES.format(name="job-list"),
    PROCESSES.format(name="oas30"),
    *RECORDS,  # the open-data catalogue at /collections/catalog
)
