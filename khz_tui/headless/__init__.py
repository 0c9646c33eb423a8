"""Runs without the TUI, for scripts and CI: `run.py` drives the engine, `printer.py` shows its events."""
