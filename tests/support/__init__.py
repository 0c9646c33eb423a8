"""Test code shared by several suites (engine, node sessions, reliability, the simulator's k3s suites):
one definition each. The suite-wide conftest puts `tests/` on the import path."""
