"""The one place that reaches into hcloud-python's private attributes, each for a job its public
interface (2.27) cannot do. `tests/engine/test_hcloud_adapter.py` fails loudly when a release renames
or retypes any of them.

`Client(token, api_endpoint, application_name, poll_interval, poll_max_retries, timeout)` is public and
used as such. What is not:

- `Client._client._session` (a `requests.Session`): hcloud-python returns parsed JSON only and drops the
  response headers, so the `RateLimit-*` headers and the request count are read by a response hook on
  this session; the session also gets a connection pool as large as the engine's parallelism (the
  default pool of 10 would make the 11th concurrent request wait for a socket), answers the engine's
  first request (the endpoint check needs the raw response: status, content type, body) and is closed
  with the client.
- `Client._client._headers`: the token and user agent, for that first request.
- `Client._client._retry_max_retries`: hcloud-python retries `rate_limit_exceeded`, `conflict`,
  `bad_gateway`, `timeout` and read timeouts by sleeping on the worker thread without reading
  `RateLimit-Reset`; the engine has one retry policy of its own (`pacing.is_retryable`), so this is 0.
"""

from __future__ import annotations

import requests
from hcloud import Client

#: How the engine names itself in the user agent hcloud-python sends (`khz-tui hcloud-python/2.27.0`).
APPLICATION_NAME = "khz-tui"


def new_client(endpoint: str, token: str, *, timeout: float | tuple[float, float], pool_size: int) -> Client:
    """An hcloud-python client that never retries on its own, with a connection pool of `pool_size`."""
    client = Client(token=token, api_endpoint=endpoint, timeout=timeout, application_name=APPLICATION_NAME)
    base = client._client
    # No public setting: the engine's retry policy replaces hcloud's (see the module's docstring).
    base._retry_max_retries = 0
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session = http_session(client)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return client


def http_session(client: Client) -> requests.Session:
    """The `requests.Session` every call of `client` goes through (no public accessor)."""
    return client._client._session


def request_headers(client: Client) -> dict[str, str]:
    """The headers hcloud-python sends with every request (token, user agent, JSON)."""
    return client._client._headers
