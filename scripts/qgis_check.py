"""Load every collection of a running Netzatlas as QGIS does (OAPIF provider), headless.

Run with Debian's Python and python3-qgis: `QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_check.py URL`.
Prints, per collection: whether the layer is valid, its feature count, its fields and how many features QGIS
actually read by iterating the layer. Exit status 1 if any layer is invalid or reads differently from its count.
Anonymous, so only public assets: QGIS sends API keys through an authentication configuration (method
"API Header"), which needs a QGIS profile with a master password.
"""

import json
import sys
import urllib.request

from qgis.core import QgsApplication, QgsVectorLayer

url = sys.argv[1].rstrip("/")
app = QgsApplication([], False)
app.initQgis()
collections = json.load(urllib.request.urlopen(f"{url}/collections?f=json"))["collections"]
failed = False
for c in collections:
    uri = f"url='{url}' typename='{c['id']}' restrictToRequestBBOX='0'"
    layer = QgsVectorLayer(uri, c["id"], "OAPIF")
    if not layer.isValid():
        print(f"{c['id']}: INVALID")
        failed = True
        continue
    count = layer.featureCount()
    read = sum(1 for _ in layer.getFeatures())
    fields = [f"{f.name()}:{f.typeName()}" for f in layer.fields()]
    ok = read == count or count < 0
    failed |= not ok
    print(f"{c['id']}: valid, featureCount={count}, read={read}, crs={layer.crs().authid()}, fields={fields}")
app.exitQgis()
sys.exit(1 if failed else 0)
