"""Suite-wide set-up: no test may reach the internet, and the shared `support` package is importable.

On a real cloud, khz-tui asks public echo services for the address it runs from (KHZ_TUI_MY_IP_URLS).
An empty variable turns that detection off, so a test that reaches the real-cloud path without setting
the variable to its own loopback echo server fails with the clear "address unknown" error instead of
asking the internet. Set before any test module is imported, so subprocesses inherit it too.

`tests/` is not a package (pytest puts each suite's own folder on the import path), so it goes on the
path here, once, for `support` (test code shared by several suites).
"""

import os
import sys
from pathlib import Path

os.environ["KHZ_TUI_MY_IP_URLS"] = ""

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
