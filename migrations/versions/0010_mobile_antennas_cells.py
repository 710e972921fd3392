"""Mobile sites as operators and the Bundesnetzagentur hold them: operators, antennas, cells; a table of bands.

- A mobile site's attributes hold `operators` (the operators that use the site) and `antennas`, each with its
  operator, azimuth (or `omnidirectional`), height, tilts, beamwidths, gain and its `cells` (cell id, technology,
  3GPP band, carrier frequency, bandwidth, EIRP or transmit power, status). They stay part of the site's
  versioned state: asset_history keeps every version, so "as of" reads return antennas and cells as they were.
- Today's `attributes.sectors` become antennas: sector n of a site -> antenna "S<n>" of the site's operator with
  one cell "<n>" (technology, band, frequency, bandwidth, EIRP); `operators` = [the site's operator]. The same
  conversion is applied to every stored version in asset_history, in place and with the triggers off (a change
  of representation, not a change of the site: no new versions, no new timestamps).
- `radio_bands`: the 3GPP E-UTRA and NR bands used in Germany (literals below, a copy of
  netzatlas/registry/data/bands.csv at this revision), public, readable by the application.
- Views `radio_antennas` and `radio_cells` replace `radio_sectors`; they are security_invoker views, so the
  caller's row-level security on assets applies (radio_sectors, owned by the migrating superuser, did not).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APP_ROLE = "netzatlas_app"

# code, technology, duplex, ul_low, ul_high, dl_low, dl_high, source
BANDS = (
    ("B1", "LTE", "FDD", 1920, 1980, 2110, 2170, "3GPP TS 36.101 Table 5.5-1"),
    ("B3", "LTE", "FDD", 1710, 1785, 1805, 1880, "3GPP TS 36.101 Table 5.5-1"),
    ("B7", "LTE", "FDD", 2500, 2570, 2620, 2690, "3GPP TS 36.101 Table 5.5-1"),
    ("B8", "LTE", "FDD", 880, 915, 925, 960, "3GPP TS 36.101 Table 5.5-1"),
    ("B20", "LTE", "FDD", 832, 862, 791, 821, "3GPP TS 36.101 Table 5.5-1"),
    ("B28", "LTE", "FDD", 703, 748, 758, 803, "3GPP TS 36.101 Table 5.5-1"),
    ("B32", "LTE", "SDL", None, None, 1452, 1496, "3GPP TS 36.101 Table 5.5-1"),
    ("B38", "LTE", "TDD", 2570, 2620, 2570, 2620, "3GPP TS 36.101 Table 5.5-1"),
    ("n1", "NR", "FDD", 1920, 1980, 2110, 2170, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n3", "NR", "FDD", 1710, 1785, 1805, 1880, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n7", "NR", "FDD", 2500, 2570, 2620, 2690, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n8", "NR", "FDD", 880, 915, 925, 960, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n20", "NR", "FDD", 832, 862, 791, 821, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n28", "NR", "FDD", 703, 748, 758, 803, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n38", "NR", "TDD", 2570, 2620, 2570, 2620, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n75", "NR", "SDL", None, None, 1432, 1517, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n77", "NR", "TDD", 3300, 4200, 3300, 4200, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n78", "NR", "TDD", 3300, 3800, 3300, 3800, "3GPP TS 38.101-1 Table 5.2-1"),
    ("n258", "NR", "TDD", 24250, 27500, 24250, 27500, "3GPP TS 38.101-2 Table 5.2-1"),
)

# attributes.sectors -> attributes.antennas (+ operators), for a row alias `t` with columns attributes, operator
CONVERT = """
    (t.attributes - 'sectors') || jsonb_build_object(
        'operators', jsonb_build_array(t.operator),
        'antennas', coalesce((
            SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                       'antenna_id', 'S' || (s ->> 'sector'),
                       'operator', t.operator,
                       'azimuth_deg', s -> 'azimuth_deg',
                       'height_m', s -> 'height_m',
                       'mech_tilt_deg', s -> 'mech_tilt_deg',
                       'elec_tilt_deg', s -> 'elec_tilt_deg',
                       'h_beamwidth_deg', s -> 'h_beamwidth_deg',
                       'v_beamwidth_deg', s -> 'v_beamwidth_deg',
                       'cells', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                           'cell_id', s ->> 'sector',
                           'technology', s -> 'technology',
                           'band', s -> 'band',
                           'frequency_mhz', s -> 'frequency_mhz',
                           'bandwidth_mhz', s -> 'bandwidth_mhz',
                           'eirp_dbm', s -> 'eirp_dbm')))))
                   ORDER BY (s ->> 'sector')::int)
            FROM jsonb_array_elements(CASE jsonb_typeof(t.attributes -> 'sectors')
                                      WHEN 'array' THEN t.attributes -> 'sectors' ELSE '[]' END) s),
            '[]'::jsonb))
"""

# back: antennas with one cell each -> sectors (downgrade); other antennas cannot be expressed and are dropped
BACK = """
    (t.attributes - 'antennas' - 'operators') || jsonb_build_object('sectors', coalesce((
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'sector', n,
                   'technology', a -> 'cells' -> 0 -> 'technology',
                   'band', a -> 'cells' -> 0 -> 'band',
                   'frequency_mhz', a -> 'cells' -> 0 -> 'frequency_mhz',
                   'azimuth_deg', a -> 'azimuth_deg',
                   'mech_tilt_deg', a -> 'mech_tilt_deg',
                   'elec_tilt_deg', a -> 'elec_tilt_deg',
                   'height_m', a -> 'height_m',
                   'eirp_dbm', a -> 'cells' -> 0 -> 'eirp_dbm',
                   'bandwidth_mhz', a -> 'cells' -> 0 -> 'bandwidth_mhz',
                   'h_beamwidth_deg', a -> 'h_beamwidth_deg',
                   'v_beamwidth_deg', a -> 'v_beamwidth_deg')) ORDER BY n)
        FROM jsonb_array_elements(coalesce(t.attributes -> 'antennas', '[]')) WITH ORDINALITY AS x(a, n)
        WHERE jsonb_array_length(coalesce(a -> 'cells', '[]')) = 1), '[]'::jsonb))
"""

ANTENNA_COLUMNS = """antenna_id text, operator text, azimuth_deg double precision, omnidirectional boolean,
    height_m double precision, mech_tilt_deg double precision, elec_tilt_deg double precision,
    h_beamwidth_deg double precision, v_beamwidth_deg double precision, gain_dbi double precision, model text"""
CELL_COLUMNS = """cell_id text, technology text, band text, frequency_mhz double precision,
    bandwidth_mhz double precision, eirp_dbm double precision, tx_power_dbm double precision, status text"""


def _num(v: object) -> str:
    return "NULL" if v is None else str(v)


def upgrade() -> None:
    rows = ",\n".join(
        f"('{c}', '{t}', '{d}', {_num(ul)}, {_num(uh)}, {dl}, {dh}, '{s}')" for c, t, d, ul, uh, dl, dh, s in BANDS
    )
    op.execute(
        f"""
        CREATE TABLE radio_bands (
            code text PRIMARY KEY,
            technology text NOT NULL CHECK (technology IN ('LTE', 'NR')),
            duplex text NOT NULL CHECK (duplex IN ('FDD', 'TDD', 'SDL')),
            ul_low_mhz double precision,
            ul_high_mhz double precision,
            dl_low_mhz double precision NOT NULL,
            dl_high_mhz double precision NOT NULL CHECK (dl_high_mhz > dl_low_mhz),
            source text NOT NULL
        );
        INSERT INTO radio_bands VALUES {rows};
        GRANT SELECT ON radio_bands TO {APP_ROLE};

        DROP VIEW radio_sectors;
        SET LOCAL session_replication_role = replica;
        UPDATE assets_mobile_sites t SET attributes = {CONVERT};
        UPDATE asset_history t SET attributes = {CONVERT} WHERE t.kind = 'mobile-sites';
        SET LOCAL session_replication_role = origin;
        """
    )
    op.execute(
        f"""
        CREATE VIEW radio_antennas WITH (security_invoker = true) AS
        SELECT a.id AS site_id, a.external_id AS site_external_id, a.operator AS site_operator, a.municipality,
               a.status, a.sensitivity, a.geom, a.attributes ->> 'structure' AS structure,
               x.antenna_no, an.*, jsonb_array_length(coalesce(x.j -> 'cells', '[]')) AS cells
        FROM assets a
        CROSS JOIN LATERAL jsonb_array_elements(coalesce(a.attributes -> 'antennas', '[]'))
             WITH ORDINALITY AS x(j, antenna_no)
        CROSS JOIN LATERAL jsonb_to_record(x.j) AS an({ANTENNA_COLUMNS})
        WHERE a.kind = 'mobile-sites' AND a.retired_at IS NULL;

        CREATE VIEW radio_cells WITH (security_invoker = true) AS
        SELECT a.id AS site_id, a.external_id AS site_external_id, a.operator AS site_operator, a.municipality,
               a.status AS site_status, a.sensitivity, a.geom, a.attributes ->> 'structure' AS structure,
               (a.attributes ->> 'height_m')::double precision AS site_height_m,
               x.antenna_no, an.*,
               c.cell_id, coalesce(c.technology, b.technology) AS technology, c.band,
               c.frequency_mhz, (b.dl_low_mhz + b.dl_high_mhz) / 2 AS band_dl_centre_mhz,
               coalesce(c.frequency_mhz, (b.dl_low_mhz + b.dl_high_mhz) / 2) AS dl_frequency_mhz, b.duplex,
               c.bandwidth_mhz, c.eirp_dbm, c.tx_power_dbm,
               coalesce(c.status, a.status) AS status
        FROM assets a
        CROSS JOIN LATERAL jsonb_array_elements(coalesce(a.attributes -> 'antennas', '[]'))
             WITH ORDINALITY AS x(j, antenna_no)
        CROSS JOIN LATERAL jsonb_to_record(x.j) AS an({ANTENNA_COLUMNS})
        CROSS JOIN LATERAL jsonb_to_recordset(coalesce(x.j -> 'cells', '[]')) AS c({CELL_COLUMNS})
        LEFT JOIN radio_bands b ON b.code = c.band
        WHERE a.kind = 'mobile-sites' AND a.retired_at IS NULL;

        GRANT SELECT ON radio_antennas, radio_cells TO {APP_ROLE};
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DROP VIEW IF EXISTS radio_cells;
        DROP VIEW IF EXISTS radio_antennas;
        SET LOCAL session_replication_role = replica;
        UPDATE assets_mobile_sites t SET attributes = {BACK};
        UPDATE asset_history t SET attributes = {BACK} WHERE t.kind = 'mobile-sites';
        SET LOCAL session_replication_role = origin;
        DROP TABLE IF EXISTS radio_bands;
        CREATE VIEW radio_sectors AS
        SELECT a.id AS site_id, a.external_id AS site_external_id, a.operator, a.municipality, a.status,
               a.sensitivity, a.geom, s.*
        FROM assets a, jsonb_to_recordset(coalesce(a.attributes->'sectors', '[]')) AS s(
            sector integer, technology text, band text, frequency_mhz double precision,
            azimuth_deg double precision, mech_tilt_deg double precision, elec_tilt_deg double precision,
            height_m double precision, eirp_dbm double precision, bandwidth_mhz double precision,
            h_beamwidth_deg double precision, v_beamwidth_deg double precision)
        WHERE a.kind = 'mobile-sites' AND a.retired_at IS NULL;
        GRANT SELECT ON radio_sectors TO {APP_ROLE};
        """
    )
