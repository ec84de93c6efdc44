"""Helpers for midimon's own tests and benchmarks, shipped so both use one copy without either
importing the other. Nothing here is used by the daemon or the CLI."""
