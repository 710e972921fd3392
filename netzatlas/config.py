"""Settings from the environment (prefix NETZATLAS_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NETZATLAS_")

    # An external server; when unset, the CLI manages an embedded cluster under home/pg.
    database_url: str | None = None
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

    # Browser origins that may call the API from other sites, comma-separated ("https://gis.example.org");
    # empty: same origin only (QGIS, GDAL and the app's own pages need no CORS).
    cors_origins: str = ""
    # Requests per second per API key and per anonymous client address (a token bucket in each server process)
    # with bursts of rate_burst (default twice the rate); 0 switches the limit off.
    rate_limit: float = Field(1000.0, ge=0)
    rate_burst: int | None = Field(None, ge=1)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def dem_root(self) -> Path:
        return (self.dem_dir or self.home / "dem").expanduser().resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
