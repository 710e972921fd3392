# Netzatlas: `make demo` serves the Worms demo, `make test` runs the tests. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup demo test lint format bench bench-features bench-tiles bench-tiles-anatomy bench-importer bench-coverage bench-city bench-load bench-qgis clean

$(BIN)/netzatlas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/netzatlas  ## venv, dependencies, database up and migrated
	$(BIN)/netzatlas db up

demo: setup  ## load the Worms demo and serve on http://$(HOST):$(PORT)
	$(BIN)/netzatlas demo load
	$(BIN)/netzatlas serve --host $(HOST) --port $(PORT)

test: setup  ## run the test suite against a real PostGIS
	scripts/test-deps.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: bench-features bench-tiles bench-importer bench-coverage bench-city bench-load bench-qgis  ## every benchmark

clean:
	-$(BIN)/netzatlas db down
	rm -rf .netzatlas $(VENV)

bench-features: setup  ## OGC API Features vs tipg on 200,000 routes
	@date -u '+%H:%M:%S UTC: bench-features'
	$(BIN)/python -m bench.features

bench-tiles: setup  ## vector tiles vs tipg of 200,000 routes over Worms, z12-z16
	@date -u '+%H:%M:%S UTC: bench-tiles'
	$(BIN)/python -m bench.tiles

bench-tiles-anatomy: setup  ## where a tile's CPU goes, Netzatlas and tipg (not part of make bench)
	@date -u '+%H:%M:%S UTC: bench-tiles-anatomy'
	$(BIN)/python -m bench.tiles_anatomy

bench-coverage: setup  ## coverage engine: mobile raster and fiber homes passed vs their floors
	@date -u '+%H:%M:%S UTC: bench-coverage'
	$(BIN)/python -m bench.coverage

bench-city: setup  ## a 300 km2 city, 500 sites, 10,000 cells: mobile at 25 m and 10 m, time and peak memory
	@date -u '+%H:%M:%S UTC: bench-city'
	$(BIN)/python -m bench.city_scale

bench-importer: setup  ## delivery imports (100,000 routes, a 10,000-cell network in three tables, 100,000 address points) vs ogr2ogr and the registry floor
	@date -u '+%H:%M:%S UTC: bench-importer'
	$(BIN)/python -m bench.importer

bench-load: setup  ## 64 connections for 60 s over a mix of reads with 1,000 runs; the database restarted under load
	@date -u '+%H:%M:%S UTC: bench-load'
	scripts/bench-deps.sh
	$(BIN)/python -m bench.load

bench-qgis: setup  ## QGIS 3.22 (python3-qgis, OAPIF) loading 200,000 routes from Netzatlas vs a zero-cost replay of its responses, whole layer and a map-view bbox
	@date -u '+%H:%M:%S UTC: bench-qgis'
	scripts/bench-deps.sh
	$(BIN)/python -m bench.qgis
