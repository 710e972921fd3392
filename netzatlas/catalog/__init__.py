"""The open-data catalogue: what the installation publishes, as DCAT-AP.de 2.0 for the state's metadata portal.

- `datasets.py` finds the published datasets: the rows an anonymous caller sees (row-level security decides,
  never a filter of our own), grouped into one dataset per registry layer and municipality, per reference layer
  whose licence is open, and per published coverage run;
- `dcat.py` turns them into an RDF graph (rdflib) with Hydra paging and serialises it.
"""
