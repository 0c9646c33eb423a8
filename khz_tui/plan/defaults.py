"""The plan's defaults that the wizard's first screen shows before the plan model has loaded.

Kept apart from `model.py` and free of pydantic, like `syntax.py`: the model takes these values as its
defaults, so the first screen and the model never disagree.
"""

from __future__ import annotations

#: `hcloud.token_env`: the environment variable that holds the API token.
TOKEN_ENV = "HCLOUD_TOKEN"
#: `ssh.public_key` and `ssh.private_key`: the key pair khz-tui uploads and signs in with.
PUBLIC_KEY = "~/.ssh/id_ed25519.pub"
PRIVATE_KEY = "~/.ssh/id_ed25519"
