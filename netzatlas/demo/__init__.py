"""Synthetic demo dataset for Worms: real Zensus 2011 population cells plus an invented network.

Everything except the population grid is generated deterministically by :mod:`netzatlas.demo.generate`
and is *not* real infrastructure.
"""
