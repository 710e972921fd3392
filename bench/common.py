"""Shared pieces of the benchmarks (and of the tests' served demo): bench databases, servers on free ports,
wrk, a peer venv."""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from netzatlas import db, migrate

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PEER_VENV = ROOT / ".netzatlas" / "bench-venv"


def bench_database(name: str, build: Callable[[str], None], marker: str) -> str:
    """A bench database built once by `build(url)`; reused while its marker comment matches."""
    db.up()
    db.ensure_database(name)
    url = db.database_url(name)
    with db.connect(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') AS m FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    if row["m"] == marker:
        migrate.upgrade(url)  # a kept database follows the schema
        return url
    db.drop_database(name)
    db.ensure_database(name)
    migrate.upgrade(url)
    build(url)
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    return url


def worms_registry(url: str) -> None:
    """The demo's municipality (boundary) and operators: what bench data needs to be registered against."""
    from netzatlas.demo.generate import OPERATORS, generate
    from netzatlas.registry import reference

    m = generate().municipality
    with db.transaction(url, actor="bench") as conn:
        reference.upsert_municipality(conn, m["ags"], m["name"], m["boundary"], m["note"])
        for op in OPERATORS:
            reference.upsert_operator(conn, op["id"], op["name"], op["kind"])


def serve_cmd(port: int) -> list[str]:
    """Netzatlas with one worker and no access log (as the peers run)."""
    return [
        sys.executable,
        "-m",
        "netzatlas.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def tipg_server(
    port: int, url: str, tables: list[str], extra: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Command and environment of tipg (from PyPI, in the peer venv) serving `tables`, one worker, configured as
    a user would: each table's id column is `id` (the partitions' primary key is (id, kind), which tipg would
    otherwise skip for the geometry column); `extra` adds settings (TIPG_TILE_BUFFER, ...)."""
    from urllib.parse import quote

    bin_dir = peer_venv("tipg>=1.0,<2", "uvicorn[standard]>=0.30")
    info = db.connect(url).info
    cmd = [str(bin_dir / "uvicorn"), "tipg.main:app", "--port", str(port), "--workers", "1", "--log-level", "warning"]
    env = {
        # asyncpg reaches a unix socket through a percent-encoded directory in the host part
        "DATABASE_URL": f"postgresql://{info.user}@{quote(info.host, safe='')}:{info.port}/{info.dbname}",
        "TIPG_DB_TABLES": "[" + ",".join(f'"{t}"' for t in tables) + "]",
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        **{f"TIPG_TABLE_CONFIG__{t.replace('.', '_')}__PK": "id" for t in tables},
        **(extra or {}),
    }
    return cmd, env


def peer_venv(*requirements: str) -> Path:
    """A separate venv for peers (their pins must not touch ours). Returns its bin dir."""
    bin_dir = PEER_VENV / "bin"
    if not (bin_dir / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(bin_dir / "pip"), "install", "-q", *requirements], check=True)
    return bin_dir


def ensure_tool(binary: str, debian_package: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", debian_package], check=True, env=env)
        found = shutil.which(binary)
    if not found:
        sys.exit(f"the benchmark needs `{binary}` (Debian package {debian_package})")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, probe: str, log_path: Path | None = None) -> Iterator[str]:
    """A server process on `port`, yielded once `probe` answers 200; its output goes to `log_path`."""
    base = f"http://127.0.0.1:{port}"
    log = open(log_path or ROOT / ".netzatlas" / f"bench-server-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + probe, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {cmd[0]} did not start; see {log.name}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def wrk(url: str, connections: int = 16, seconds: int = 10) -> float:
    """Requests per second at `connections` concurrent connections (one wrk thread)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses from {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def load() -> str:
    """The machine's load average (1, 5, 15 min), noted with every result: the machine is shared."""
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def wrk_paths(base: str, paths: list[str], connections: int = 16, seconds: int = 10) -> float:
    """Requests per second of wrk cycling through `paths` (a Lua script), no Accept-Encoding (uncompressed)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        listed = ",\n".join(f'"{p}"' for p in paths)
        f.write(
            f"local paths = {{\n{listed}\n}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
        )
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(f.name).unlink()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses from {base}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def _varint(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


def _fields(b: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """The (field number, wire type, value) of a protobuf message: enough to read MVT's layers and features."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
            yield field, wire, v
        elif wire == 2:
            n, i = _varint(b, i)
            yield field, wire, b[i : i + n]
            i += n
        elif wire == 5:
            yield field, wire, b[i : i + 4]
            i += 4
        elif wire == 1:
            yield field, wire, b[i : i + 8]
            i += 8
        else:
            raise ValueError(f"protobuf wire type {wire}")


def mvt_layers(tile: bytes) -> dict[str, tuple[int, list[str]]]:
    """Each layer of a Mapbox Vector Tile: (number of features, property names)."""
    return {name: (len(features), keys) for name, (features, keys) in mvt_features(tile).items()}


def mvt_features(tile: bytes) -> dict[str, tuple[list[list[list[tuple[int, int]]]], list[str]]]:
    """Each layer of a Mapbox Vector Tile: its features' geometries (parts as lists of tile coordinates, from the
    MoveTo/LineTo commands of the MVT 2.1 spec, section 4.3) and its property names."""
    out = {}
    for field, _, layer in _fields(tile):
        if field != 3:
            continue
        name, features, keys = "", [], []
        for f, _, v in _fields(layer):  # type: ignore[arg-type]
            if f == 1:
                name = v.decode()  # type: ignore[union-attr]
            elif f == 2:
                features.append(_mvt_geometry(v))  # type: ignore[arg-type]
            elif f == 3:
                keys.append(v.decode())  # type: ignore[union-attr]
        out[name] = (features, keys)
    return out


def _mvt_geometry(feature: bytes) -> list[list[tuple[int, int]]]:
    ints: list[int] = []
    for f, wire, v in _fields(feature):
        if f == 4 and wire == 2:  # packed uint32 commands and zigzag parameters
            i = 0
            while i < len(v):  # type: ignore[arg-type]
                n, i = _varint(v, i)  # type: ignore[arg-type]
                ints.append(n)
    parts: list[list[tuple[int, int]]] = []
    x = y = i = 0
    while i < len(ints):
        cmd, count = ints[i] & 7, ints[i] >> 3
        i += 1
        if cmd == 7:  # ClosePath
            continue
        for _ in range(count):
            dx, dy = ints[i], ints[i + 1]
            i += 2
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            if cmd == 1:  # MoveTo starts a part
                parts.append([])
            parts[-1].append((x, y))
    return parts


def in_tile(parts: list[list[tuple[int, int]]], extent: int = 4096) -> bool:
    """Whether a decoded feature reaches into the tile itself, not only into its buffer."""
    from shapely.geometry import LineString, box

    # most features have a vertex in the tile; only the others need a segment test
    if any(0 <= x <= extent and 0 <= y <= extent for part in parts for x, y in part):
        return True
    square = box(0, 0, extent, extent)
    return any(len(p) > 1 and square.intersects(LineString(p)) for p in parts)


def cpu_seconds(*cmdline_parts: str) -> float:
    """CPU seconds (user + system, with reaped children) of the processes whose command line contains all of
    `cmdline_parts`, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if all(part in cmd for part in cmdline_parts):
            total += sum(int(v) for v in stat[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def alternate(rounds: int, peers: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Rounds whose peer order alternates (odd rounds reversed), so that neither always goes first."""
    for r in range(rounds):
        yield r, (peers if r % 2 == 0 else peers[::-1])


def median_seconds(fn: Callable[[], object], runs: int = 5) -> float:
    fn()  # warm up caches and prepared statements
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
