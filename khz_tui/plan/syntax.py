"""The shapes of the plan values the command line takes too (`--token-env`, `--endpoint`).

Kept apart from `model.py` and free of pydantic, so the CLI checks its flags with the plan's own
rules without loading the model before the wizard's first frame.
"""

from __future__ import annotations

import re

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


def check_env_name(value: str) -> str:
    """Return `value` if it can name an environment variable, else raise a readable ValueError."""
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, '_')")
    return value


def check_http_url(value: str) -> str:
    """Return `value` if it is an http(s) URL, else raise a readable ValueError."""
    if not _HTTP_URL.match(value):
        raise ValueError(f"{value!r} is not an http(s) URL such as https://api.hetzner.cloud/v1")
    return value
