"""Test code shared by several suites (engine, node sessions, reliability): one definition each.

`tests/` is not a package (pytest puts each suite's own folder on the import path), so a conftest
that uses this package puts `tests/` on the path before importing it."""
