"""Settings from the environment (prefix NETZATLAS_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NETZATLAS_")

    # An external server; when unset, the CLI manages an embedded cluster under home/pg. This URL (a superuser or
    # the schema's owner) runs migrations and backups only.
    database_url: str | None = None
    # How the API, the CLI and the coverage engine connect: the non-superuser role netzatlas_app (migration 0006).
    # Default: database_url with the user replaced by netzatlas_app (enough for the embedded cluster, which
    # trusts its unix socket); an external server needs the role's credentials here.
    app_database_url: str | None = None
    # Where the embedded cluster and other local state live.
    home: Path = Path(".netzatlas")
    database_name: str = "netzatlas"
    host: str = "127.0.0.1"
    port: int = 8000
    # Absolute base URL for links when running behind a proxy; derived from the request otherwise.
    base_url: str | None = None
    # Optional raster basemap for the web map, e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png" with its
    # attribution; without it the map draws districts and buildings from the registry itself (works offline).
    basemap_url: str | None = None
    basemap_attribution: str = ""
    # Largest delivery file (or zip) the importer accepts, in MiB.
    import_max_mb: int = 2048
    # A zip delivery is refused before unpacking when it has more members, unpacks to more MiB in total, or
    # expands more than this ratio overall (zip bombs).
    import_max_zip_members: int = 500
    import_max_unzipped_mb: int = 4096
    import_max_zip_ratio: float = 200.0
    # Largest number of vertices of one asset geometry (API and importer).
    max_vertices: int = 100_000
    # Features per layer in one vector tile; more are left out and the X-Tile-Truncated header says so.
    tile_max_features: int = 20_000
    # Where DEM GeoTIFFs for coverage runs requested through the API must lie (default: <home>/dem); the
    # API takes a file name in it, so that a request can never make the server open an arbitrary path.
    dem_dir: Path | None = None
    # Coverage jobs (the queue is the coverage_runs table): queued + running jobs per API key and overall; a
    # request over either cap gets a 429 with Retry-After (seconds).
    jobs_per_key: int = Field(3, ge=1)
    jobs_total: int = Field(20, ge=1)
    jobs_retry_after_s: int = Field(30, ge=1)
    # Runs executing at once across every server and `netzatlas worker` on the database (they are CPU-bound).
    jobs_concurrency: int = Field(1, ge=1, le=64)
    # Whether `netzatlas serve` executes queued jobs itself (false: only `netzatlas worker` processes do).
    jobs_in_server: bool = True
    # How often an idle worker looks at the queue and for orphaned runs (it is also woken by new jobs).
    jobs_poll_s: float = Field(2.0, gt=0)
    # How long a `Prefer: respond-sync` request waits for its job before being answered as an async job.
    jobs_sync_wait_s: float = Field(600.0, gt=0)
    # Browser origins that may call the API from other sites, comma-separated ("https://gis.example.org");
    # empty: same origin only (QGIS, GDAL and the app's own pages need no CORS).
    cors_origins: str = ""
    # Requests per second per API key and per anonymous client address (a token bucket in each server process)
    # with bursts of rate_burst (default twice the rate); 0 switches the limit off.
    rate_limit: float = Field(1000.0, ge=0)
    rate_burst: int | None = Field(None, ge=1)
    # The open-data catalogue at /catalog (DCAT-AP.de 2.0); `netzatlas catalog check` says what is missing.
    catalog_title: str = "Netzatlas open data"
    catalog_publisher: str | None = None  # the publishing body, e.g. "Stadtverwaltung Worms"
    catalog_publisher_url: str | None = None  # its IRI or web site (default: an IRI inside the catalogue)
    catalog_contact_email: str | None = None
    # dcatde:contributorID: the DCAT-AP.de contributor id of the portal that delivers to GovData (the state's
    # portal harvesting the city), as its id ("openGovernmentDataPortalRheinlandPfalz") or full IRI
    catalog_contributor_id: str | None = None
    # licence of the city's own data: an id of the DCAT-AP.de licence list or its IRI
    catalog_license: str = "dl-by-de/2.0"
    catalog_page_size: int = Field(100, ge=1, le=1000)
    # Where `netzatlas opendata build` writes the downloads served at /opendata (default: <home>/opendata).
    opendata_dir: Path | None = None

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def dem_root(self) -> Path:
        return (self.dem_dir or self.home / "dem").expanduser().resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
