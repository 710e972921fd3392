"""The catalogue as RDF: DCAT-AP.de 2.0 (with its Konventionen), paged with Hydra, serialised by rdflib."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from netzatlas.catalog.datasets import LICENSES, Dataset, license_id
from netzatlas.config import Settings

DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
LANGUAGE = URIRef("http://publications.europa.eu/resource/authority/language/DEU")
IANA = "https://www.iana.org/assignments/media-types/"
CONTRIBUTORS = "http://dcat-ap.de/def/contributors/"
GEOCODING = "http://dcat-ap.de/def/politicalGeocoding/"
PUBLIC = URIRef("http://publications.europa.eu/resource/authority/access-right/PUBLIC")
OGC_FEATURES = (
    URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0"),
    URIRef("http://www.opengis.net/spec/ogcapi-features-2/1.0"),
)
DCATDE_VERSION = Literal("dcat-ap.de 2.0")

# f= values and Accept media types -> (rdflib format, media type)
FORMATS = {
    "rdf": ("pretty-xml", "application/rdf+xml"),
    "xml": ("pretty-xml", "application/rdf+xml"),
    "ttl": ("turtle", "text/turtle"),
    "turtle": ("turtle", "text/turtle"),
    "jsonld": ("json-ld", "application/ld+json"),
    "json-ld": ("json-ld", "application/ld+json"),
}
MEDIA_TYPES = {"application/rdf+xml": "rdf", "text/turtle": "ttl", "application/ld+json": "jsonld"}


def political_geocoding(ags: str) -> tuple[URIRef, URIRef]:
    """dcatde:politicalGeocodingURI and its level from an official key: 2 digits a state, 3 a government district,
    5 a district (Kreis), 8 a municipality (AGS), 12 a regional key (ARS)."""
    vocab, level = {
        2: ("stateKey", "state"),
        3: ("governmentDistrictKey", "administrativeDistrict"),
        5: ("districtKey", "administrativeDistrict"),
        8: ("municipalityKey", "municipality"),
        12: ("regionalKey", "municipality"),
    }[len(ags)]
    return URIRef(f"{GEOCODING}{vocab}/{ags}"), URIRef(f"{GEOCODING}Level/{level}")


def contributor(settings: Settings) -> URIRef | None:
    value = (settings.catalog_contributor_id or "").strip()
    if not value:
        return None
    return URIRef(value if value.startswith(("http://", "https://")) else CONTRIBUTORS + value)


def _time(value: dt.datetime | dt.date) -> Literal:
    if isinstance(value, dt.datetime):
        return Literal(value.astimezone(dt.UTC).replace(microsecond=0), datatype=XSD.dateTime)
    return Literal(value, datatype=XSD.date)


def _wkt(bbox: tuple[float, float, float, float]) -> Literal:
    x1, y1, x2, y2 = bbox
    ring = f"{x1} {y1}, {x2} {y1}, {x2} {y2}, {x1} {y2}, {x1} {y1}"
    return Literal(f"POLYGON(({ring}))", datatype=GSP.wktLiteral)


def graph(
    datasets: list[Dataset],
    total: int,
    page: int,
    pages: int,
    base: str,
    settings: Settings,
    query: dict[str, str],
    modified: dt.datetime | None,
) -> Graph:
    """One page of the catalogue: the dcat:Catalog with this page's datasets and a hydra:PartialCollectionView.
    `modified` is the catalogue's, the latest of all its datasets (the same on every page)."""
    g = Graph(bind_namespaces="core")
    for prefix, ns in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("dcatde", DCATDE),
        ("hydra", HYDRA),
        ("vcard", VCARD),
        ("gsp", GSP),
    ):
        g.bind(prefix, ns)
    home = f"{base}/catalog"
    catalog = URIRef(home)
    publisher = URIRef(settings.catalog_publisher_url or f"{home}#publisher")
    contact = URIRef(f"{home}#contact")
    service = URIRef(f"{home}#ogcapi-features")
    default_license = URIRef(LICENSES + (license_id(settings.catalog_license) or "dl-by-de/2.0"))
    contributor_id = contributor(settings)

    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, Literal(settings.catalog_title)))
    g.add(
        (
            catalog,
            DCTERMS.description,
            Literal(
                "Open data of the infrastructure registry: public registry layers per municipality, reference "
                "layers under open licences and published coverage results. Internal and critical infrastructure "
                "is not listed."
            ),
        )
    )
    g.add((catalog, DCTERMS.publisher, publisher))
    g.add((catalog, FOAF.homepage, URIRef(f"{base}/")))
    g.add((catalog, DCTERMS.language, LANGUAGE))
    g.add((catalog, DCAT.service, service))
    if modified is not None:
        g.add((catalog, DCTERMS.modified, _time(modified)))

    g.add((publisher, RDF.type, FOAF.Organization))
    g.add((publisher, FOAF.name, Literal(settings.catalog_publisher or settings.catalog_title)))

    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(settings.catalog_publisher or settings.catalog_title)))
    if settings.catalog_contact_email:
        g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{settings.catalog_contact_email}")))

    g.add((service, RDF.type, DCAT.DataService))
    g.add((service, DCTERMS.title, Literal("OGC API Features of the infrastructure registry")))
    g.add((service, DCAT.endpointURL, URIRef(f"{base}/")))
    g.add((service, DCAT.endpointDescription, URIRef(f"{base}/api")))
    for spec in OGC_FEATURES:
        g.add((service, DCTERMS.conformsTo, spec))
    g.add((service, DCTERMS.license, default_license))
    g.add((service, DCTERMS.accessRights, PUBLIC))
    g.add((service, DCTERMS.publisher, publisher))

    for d in datasets:
        ds = URIRef(f"{home}#{d.id}")
        g.add((catalog, DCAT.dataset, ds))
        g.add((service, DCAT.servesDataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(str(ds))))
        g.add((ds, DCTERMS.title, Literal(d.title)))
        g.add((ds, DCTERMS.description, Literal(d.description)))
        g.add((ds, DCTERMS.publisher, publisher))
        g.add((ds, DCAT.contactPoint, contact))
        g.add((ds, DCTERMS.modified, _time(d.modified)))
        g.add((ds, DCTERMS.accessRights, PUBLIC))
        g.add((ds, DCTERMS.conformsTo, DCATDE_VERSION))
        if d.issued:
            g.add((ds, DCTERMS.issued, _time(d.issued)))
        if contributor_id is not None:
            g.add((ds, DCATDE.contributorID, contributor_id))
        for theme in d.themes:
            g.add((ds, DCAT.theme, URIRef(THEME + theme)))
        for keyword in d.keywords:
            g.add((ds, DCAT.keyword, Literal(keyword)))
        first = d.distributions[0] if d.distributions else None
        if first is not None:
            g.add((ds, DCAT.landingPage, URIRef(f"{base}/collections/{first.collection}")))
        for ags in d.municipalities:
            uri, level = political_geocoding(ags)
            g.add((ds, DCATDE.politicalGeocodingURI, uri))
            g.add((ds, DCATDE.politicalGeocodingLevelURI, level))
        if d.bbox:
            place = BNode()
            g.add((ds, DCTERMS.spatial, place))
            g.add((place, RDF.type, DCTERMS.Location))
            g.add((place, DCAT.bbox, _wkt(d.bbox)))
        if d.temporal and (d.temporal[0] or d.temporal[1]):
            period = BNode()
            g.add((ds, DCTERMS.temporal, period))
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            if d.temporal[0]:
                g.add((period, DCAT.startDate, _time(d.temporal[0])))
            if d.temporal[1]:
                g.add((period, DCAT.endDate, _time(d.temporal[1])))
        for i, dist in enumerate(d.distributions, 1):
            node = URIRef(f"{home}#{d.id}-distribution-{i}")
            g.add((ds, DCAT.distribution, node))
            g.add((node, RDF.type, DCAT.Distribution))
            g.add((node, DCTERMS.title, Literal(dist.title)))
            url = URIRef(base + quote(dist.access_url, safe="/?&=:-._~"))
            g.add((node, DCAT.accessURL, url))
            if dist.download:
                g.add((node, DCAT.downloadURL, url))
                if dist.byte_size is not None:
                    # xsd:decimal (DCAT-AP 2) in the lexical form Turtle writes, so every syntax gives one graph
                    g.add((node, DCAT.byteSize, Literal(f"{dist.byte_size}.0", datatype=XSD.decimal)))
                # No spdx:checksum: our checksums are SHA-256 only, and under DCAT-AP.de 2.0 an
                # spdx:checksumAlgorithm_sha256 is two violations (DCAT-AP 2.1.1 accepts only SHA-1, the German
                # shapes only the dcat-ap.de hashAlgorithms list; README "Open-data downloads",
                # tests/test_catalog.py::test_sha256_checksums_and_the_2_0_shapes). The SHA-256 of each file is in
                # the municipality's manifest.json.
            else:
                g.add((node, DCAT.accessService, service))
            g.add((node, DCTERMS.format, URIRef(FILE_TYPE + dist.file_type)))
            media = URIRef(IANA + dist.media_type)
            g.add((node, DCAT.mediaType, media))
            g.add((media, RDF.type, DCTERMS.MediaType))
            g.add((node, DCTERMS.license, URIRef(LICENSES + d.license)))
            if d.attribution:
                g.add((node, DCATDE.licenseAttributionByText, Literal(d.attribution)))
            g.add((node, DCTERMS.modified, _time(d.modified)))

    # Hydra paging: the catalogue is the collection, each page a view of it
    g.add((catalog, HYDRA.totalItems, Literal(total, datatype=XSD.nonNegativeInteger)))
    view = URIRef(_page_url(home, query, page))
    g.add((view, RDF.type, HYDRA.PartialCollectionView))
    g.add((catalog, HYDRA.view, view))
    g.add((view, HYDRA.first, URIRef(_page_url(home, query, 1))))
    g.add((view, HYDRA.last, URIRef(_page_url(home, query, pages))))
    if page > 1:
        g.add((view, HYDRA.previous, URIRef(_page_url(home, query, page - 1))))
    if page < pages:
        g.add((view, HYDRA.next, URIRef(_page_url(home, query, page + 1))))
    return g


def _page_url(home: str, query: dict[str, str], page: int) -> str:
    q = {k: v for k, v in query.items() if k != "page"}
    q["page"] = str(page)
    return f"{home}?{urlencode(q)}"


def serialize(g: Graph, fmt: str) -> bytes:
    rdflib_format, _ = FORMATS[fmt]
    if rdflib_format == "json-ld":
        return g.serialize(format="json-ld", auto_compact=True).encode()
    return g.serialize(format=rdflib_format, encoding="utf-8")
