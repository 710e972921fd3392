"""Netzatlas: city infrastructure asset and network coverage registry."""

__version__ = "0.1.0"
