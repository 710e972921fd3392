"""The registry: asset kinds, validation, the write service with history, and reference layers."""
