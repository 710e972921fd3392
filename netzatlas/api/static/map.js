// The planner's web map: registry layers from the application's own vector tiles (/tiles), no CDN.
"use strict";

(function () {
  const base = document.body.dataset.base;  // from the page; no inline script (the page's CSP forbids it)
  const cfg = JSON.parse(document.getElementById("netzatlas-config").textContent);
  let apiKey = sessionStorage.getItem("netzatlas-key") || "";
  const filters = { operator: "", status: "" };

  function style() {
    const sources = {
      registry: {
        type: "vector",
        tiles: [`${base}/tiles/WebMercatorQuad/{z}/{y}/{x}`],
        minzoom: 0,
        maxzoom: 16,
      },
    };
    const layers = [{ id: "background", type: "background", paint: { "background-color": "#eef1f5" } }];
    if (cfg.basemap) {
      sources.basemap = { type: "raster", tiles: [cfg.basemap.url], tileSize: 256, attribution: cfg.basemap.attribution };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    // The offline basemap: the registry's own districts and buildings.
    layers.push(
      { id: "districts-fill", type: "fill", source: "registry", "source-layer": "districts",
        paint: { "fill-color": "#ffffff", "fill-opacity": 0.6 } },
      { id: "population-cells", type: "fill", source: "registry", "source-layer": "population-cells",
        layout: { visibility: "none" },
        paint: { "fill-color": ["interpolate", ["linear"], ["coalesce", ["get", "population"], 0],
                                0, "#f7fbff", 2000, "#6baed6", 6000, "#08306b"], "fill-opacity": 0.5 } },
      { id: "buildings", type: "fill", source: "registry", "source-layer": "buildings", minzoom: 13,
        paint: { "fill-color": "#c8ccd2" } },
      { id: "districts-line", type: "line", source: "registry", "source-layer": "districts",
        paint: { "line-color": "#7a8594", "line-width": 1.2 } },
      { id: "district-selected", type: "line", source: "registry", "source-layer": "districts",
        filter: ["==", ["get", "name"], ""], paint: { "line-color": "#12355b", "line-width": 3 } },
    );
    // Coverage of the latest runs: rasters (classified previews of the COGs) and gap polygons.
    for (const r of cfg.rasters) {
      sources[r.id] = { type: "image", url: r.url, coordinates: r.coordinates };
      layers.push({ id: r.id, type: "raster", source: r.id, layout: { visibility: "none" },
        paint: { "raster-opacity": 0.8, "raster-resampling": "nearest" } });
    }
    layers.push({ id: "coverage-gaps", type: "fill", source: "registry", "source-layer": "coverage-gaps",
      layout: { visibility: "none" },
      filter: ["in", ["get", "run_id"], ["literal", cfg.gapRuns]],
      paint: { "fill-color": ["match", ["get", "gap"], "white_spot", "#d55e00", "grey_spot", "#999999",
                              "unpassed", "#cc79a7", "#e69f00"], "fill-opacity": 0.35,
               "fill-outline-color": "#444444" } });
    for (const l of cfg.layers) {
      const common = { id: l.id, source: "registry", "source-layer": l.id };
      if (l.type === "line") {
        layers.push({ ...common, type: "line", paint: { "line-color": l.color, "line-width": 2,
          "line-opacity": ["case", ["==", ["get", "status"], "in_service"], 1, 0.45] } });
      } else {
        layers.push({ ...common, type: "circle", paint: { "circle-color": l.color, "circle-radius": 5,
          "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
          "circle-opacity": ["case", ["==", ["get", "status"], "in_service"], 1, 0.55] } });
      }
    }
    return { version: 8, sources, layers };
  }

  const map = new maplibregl.Map({
    container: "map",
    style: style(),
    bounds: [[cfg.bounds[0], cfg.bounds[1]], [cfg.bounds[2], cfg.bounds[3]]],
    fitBoundsOptions: { padding: 20 },
    // the key goes only to this application, as a header
    transformRequest: (url) => (apiKey && url.startsWith(base) ? { url, headers: { "X-API-Key": apiKey } } : { url }),
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  window.netzatlasMap = map;

  // Legend with a toggle per layer.
  const legend = document.getElementById("legend");
  const toggles = [...cfg.layers.map((l) => ({ id: l.id, title: l.title, color: l.color, type: l.type })),
    { id: "buildings", title: "Buildings", color: "#c8ccd2", type: "fill" },
    { id: "population-cells", title: "Population (Zensus grid)", color: "#6baed6", type: "fill", off: true },
    { id: "coverage-gaps", title: "Coverage gaps (latest runs)", color: "#d55e00", type: "fill", off: true },
    ...cfg.rasters.map((r) => ({ id: r.id, title: r.title, color: "#009e73", type: "fill", off: true }))];
  for (const t of toggles) {
    const li = document.createElement("li");
    li.innerHTML = `<label><input type="checkbox" data-layer="${t.id}" ${t.off ? "" : "checked"}>` +
      `<span class="swatch ${t.type}"></span>${t.title}</label>`;
    li.querySelector(".swatch").style.background = t.color;  // not a style="" attribute: the page's CSP forbids those
    legend.appendChild(li);
  }
  legend.addEventListener("change", (e) => {
    const id = e.target.dataset.layer;
    map.setLayoutProperty(id, "visibility", e.target.checked ? "visible" : "none");
  });

  // Filters by operator and status on every asset layer.
  function option(select, value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    select.appendChild(o);
  }
  const operatorSel = document.getElementById("operator");
  const statusSel = document.getElementById("status");
  cfg.operators.forEach((o) => option(operatorSel, o.id, o.name));
  cfg.statuses.forEach((s) => option(statusSel, s, s.replace(/_/g, " ")));
  function applyFilters() {
    const parts = ["all"];
    if (filters.operator) parts.push(["==", ["get", "operator"], filters.operator]);
    if (filters.status) parts.push(["==", ["get", "status"], filters.status]);
    for (const l of cfg.layers) map.setFilter(l.id, parts.length > 1 ? parts : null);
  }
  operatorSel.addEventListener("change", () => { filters.operator = operatorSel.value; applyFilters(); });
  statusSel.addEventListener("change", () => { filters.status = statusSel.value; applyFilters(); });

  // Municipality selection: the page of the other municipality (its districts, runs and bounds come from the server).
  const municipalityForm = document.getElementById("municipality-form");
  municipalityForm.municipality.addEventListener("change", () => municipalityForm.submit());

  // District selection (districts of this municipality only): zoom there and outline it. District names repeat
  // between municipalities, so the outline matches the municipality too.
  const districtSel = document.getElementById("district");
  const ags = cfg.municipality ? cfg.municipality.ags : "";
  cfg.districts.forEach((d, i) => option(districtSel, String(i), d.name));
  districtSel.addEventListener("change", () => {
    const d = cfg.districts[Number(districtSel.value)];
    const b = d ? d.bbox : cfg.bounds;
    map.setFilter("district-selected",
      ["all", ["==", ["get", "name"], d ? d.name : ""], ["==", ["get", "municipality"], ags]]);
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, duration: 0 });
  });

  // API key: kept for this browser tab only; tiles are fetched again with it.
  const keyInput = document.getElementById("apikey");
  document.getElementById("keyform").addEventListener("submit", (e) => e.preventDefault());
  keyInput.value = apiKey;
  keyInput.addEventListener("change", () => {
    apiKey = keyInput.value.trim();
    sessionStorage.setItem("netzatlas-key", apiKey);
    map.setStyle(style(), { diff: false });  // not diffed: the same tile URLs must be fetched again
  });

  // Popups with the attributes and links to the feature and its history.
  function escapeHtml(v) {
    return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  const assetLayers = cfg.layers.map((l) => l.id);
  map.on("click", assetLayers, (e) => {
    const f = e.features[0];
    const p = f.properties;
    const rows = Object.entries(p).filter(([, v]) => v !== null && v !== "")
      .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join("");
    const item = `${base}/collections/${f.layer.id}/items/${encodeURIComponent(p.id)}`;
    new maplibregl.Popup({ maxWidth: "22rem" })
      .setLngLat(e.lngLat)
      .setHTML(`<strong>${escapeHtml(p.name || p.id)}</strong><table>${rows}</table>` +
        `<a href="${item}?f=html">feature</a> · <a class="history" href="${item}/history?f=html">history</a>`)
      .addTo(map);
  });
  for (const id of assetLayers) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
})();
