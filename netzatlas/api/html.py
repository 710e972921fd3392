"""HTML pages (Jinja2), readable without JavaScript; the items page draws its features as inline SVG."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from netzatlas.api.negotiation import base_url

env = Environment(loader=PackageLoader("netzatlas.api", "templates"), autoescape=select_autoescape(["html"]))
SVG_W, SVG_H = 640, 400


def render(request: Request, template: str, headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    html = env.get_template(template).render(base=base_url(request), request=request, svg=svg_map, **ctx)
    return HTMLResponse(html, headers=headers)


def _rings(geom: dict[str, Any]) -> list[list[list[float]]]:
    t, c = geom.get("type"), geom.get("coordinates")
    if t == "Point":
        return [[c]]
    if t in ("LineString", "MultiPoint"):
        return [c]
    if t in ("Polygon", "MultiLineString"):
        return list(c)
    if t == "MultiPolygon":
        return [ring for poly in c for ring in poly]
    return []


def svg_map(features: list[dict[str, Any]], swap: bool = False) -> list[dict[str, Any]]:
    """Shapes of the features scaled into the SVG viewport (equal-area enough for a city)."""
    shapes = []
    for f in features:
        if f.get("geometry"):
            rings = [[(p[1], p[0]) if swap else (p[0], p[1]) for p in ring] for ring in _rings(f["geometry"])]
            shapes.append((f, f["geometry"]["type"], rings))
    pts = [p for _, _, rings in shapes for ring in rings for p in ring]
    if not pts:
        return []
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    geographic = -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    kx = math.cos(math.radians((y0 + y1) / 2)) if geographic else 1.0
    span = max((x1 - x0) * kx, y1 - y0, 1e-9)
    scale = min(SVG_W, SVG_H) * 0.95 / span

    def xy(p: tuple[float, float]) -> str:
        return f"{(p[0] - x0) * kx * scale + 10:.1f},{SVG_H - ((p[1] - y0) * scale + 10):.1f}"

    out = []
    for f, gtype, rings in shapes:
        if gtype in ("Point", "MultiPoint"):
            for ring in rings:
                for p in ring:
                    x, y = xy(p).split(",")
                    out.append({"id": f["id"], "circle": (x, y)})
        else:
            d = " ".join("M" + " L".join(xy(p) for p in ring) + (" Z" if "Polygon" in gtype else "") for ring in rings)
            out.append({"id": f["id"], "path": d, "fill": "Polygon" in gtype})
    return out
