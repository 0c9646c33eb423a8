"""Suite-wide guard: no test may reach the internet.

On a real cloud, khz-tui asks public echo services for the address it runs from (KHZ_TUI_MY_IP_URLS).
An empty variable turns that detection off, so a test that reaches the real-cloud path without setting
the variable to its own loopback echo server fails with the clear "address unknown" error instead of
asking the internet. Set before any test module is imported, so subprocesses inherit it too.
"""

import os

os.environ["KHZ_TUI_MY_IP_URLS"] = ""
