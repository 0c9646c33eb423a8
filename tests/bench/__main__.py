"""`python -m tests.bench [options]` is `python tests/bench/run_all.py [options]`."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("run_all.py")), run_name="__main__")
