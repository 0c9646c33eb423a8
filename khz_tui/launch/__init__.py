"""The composition root: the one place besides the simulator itself that puts the parts together.

    connect.py    where a run goes: the user's simulated project for `--sim`, else a real cloud
    simulator.py  the simulated project: opened (one in-process simulator per process), locked, reset

The command line builds the `connect` here and hands it to the wizard, headless runs and render; the
engine, the TUI and headless runs never import the simulator.
"""
