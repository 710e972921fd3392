"""Coverage engine: fiber homes passed, radio coverage (5G/LTE, LoRaWAN) and IoT connectivity.

Reads the registry, writes only its own result tables (migration 0003) and files under
<NETZATLAS_HOME>/coverage/<run id>/.
"""
