"""Whether the kubeconfig written for the person works from this machine, as kubectl would use it:
TLS to its server with its CA and the hostname (or IP) check, its client certificate, then
`GET /version` and a one-item list of nodes (which proves the credentials, as /version may be public).

A certificate that does not cover the kubeconfig's address (a recreated API load balancer whose new
address never reached the servers' `tls-san`) fails here with the names the certificate does carry.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

#: OpenSSL's verify codes for a name the certificate does not cover (hostname, IP address).
_NAME_MISMATCH = {62, 64}


@dataclass(frozen=True)
class Kubeconfig:
    """The current context's server and credentials."""

    server: str
    ca_pem: str | None
    cert_pem: str | None
    key_pem: str | None
    token: str | None


class KubeconfigProblem(Exception):
    """The file cannot be used; the message says why."""


def _decoded(entry: dict[str, Any], key: str) -> str | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"]).decode()
    if entry.get(key):
        return Path(str(entry[key])).expanduser().read_text(encoding="utf-8")
    return None


def read_kubeconfig(path: Path) -> Kubeconfig:
    """The current context of the kubeconfig at `path`; raises KubeconfigProblem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise KubeconfigProblem(f"there is no kubeconfig at {path}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigProblem(f"the kubeconfig at {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise KubeconfigProblem(f"{path} is not a kubeconfig")
    current = data.get("current-context")
    context = next((c.get("context") or {} for c in data.get("contexts") or [] if c.get("name") == current), None)
    if context is None:
        raise KubeconfigProblem(f"{path} has no current context")
    cluster = next((c.get("cluster") or {} for c in data.get("clusters") or [] if c.get("name") == context.get("cluster")), {})
    user = next((u.get("user") or {} for u in data.get("users") or [] if u.get("name") == context.get("user")), {})
    if not cluster.get("server"):
        raise KubeconfigProblem(f"{path}: context {current!r} names no server")
    try:
        return Kubeconfig(str(cluster["server"]), _decoded(cluster, "certificate-authority"),
                          _decoded(user, "client-certificate"), _decoded(user, "client-key"), user.get("token"))
    except (OSError, ValueError) as exc:
        raise KubeconfigProblem(f"{path}: a certificate or key cannot be read: {exc}") from None


@contextmanager
def _client_files(config: Kubeconfig) -> Iterator[tuple[str, str] | None]:
    """The client certificate and key as files (ssl loads a chain only from files), in a private
    temporary folder removed afterwards."""
    if not (config.cert_pem and config.key_pem):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="khz-verify-") as folder:
        paths = []
        for name, text in (("client.crt", config.cert_pem), ("client.key", config.key_pem)):
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            paths.append(path)
        yield paths[0], paths[1]


def _context(config: Kubeconfig, files: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=config.ca_pem) if config.ca_pem else ssl.create_default_context()
    context.check_hostname = True  # an IP address is matched against the certificate's IP names
    if files is not None:
        context.load_cert_chain(*files)
    return context


async def served_names(host: str, port: int, timeout: float) -> list[str]:
    """The names (DNS and IP) on the certificate served at host:port, read without verifying it."""
    from cryptography import x509

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    try:
        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + \
        [str(n) for n in san.get_values_for_type(x509.IPAddress)]


@dataclass(frozen=True)
class Answer:
    ok: bool
    detail: str
    hint: str = ""


async def check_kubeconfig(path: Path, *, timeout: float) -> Answer:
    """Use the kubeconfig at `path` as kubectl would; the answer says what worked or what did not."""
    try:
        config = read_kubeconfig(path)
    except KubeconfigProblem as exc:
        return Answer(False, str(exc), "apply writes it (with --kubeconfig PATH, where you said); verify reads the "
                                       "same path, so give verify the same --kubeconfig")
    url = urlsplit(config.server)
    host, port = url.hostname or "", url.port or 443
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    try:
        with _client_files(config) as files:
            context = _context(config, files)
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=client_timeout) as http:
            async with http.get(f"{config.server}/version", ssl=context, headers=headers) as response:
                version = await response.json(content_type=None) if response.status == 200 else None
                status = response.status
            if version is None:
                return Answer(False, f"{config.server}/version answered HTTP {status}",
                              "the API server runs but does not answer as Kubernetes should: look at `journalctl -u k3s` "
                              "on a control plane")
            async with http.get(f"{config.server}/api/v1/nodes?limit=1", ssl=context, headers=headers) as response:
                nodes_status = response.status
    except aiohttp.ClientConnectorCertificateError as exc:
        return await _certificate_refused(config.server, host, port, exc.certificate_error, timeout, path)
    except ssl.SSLError as exc:
        return Answer(False, f"TLS to {config.server} failed: {exc}",
                      "the kubeconfig's client certificate or key is damaged: apply again writes a fresh kubeconfig")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        return Answer(False, f"cannot reach {config.server} from this machine: {why}",
                      "ssh.api_allowed_cidrs must include the address you run from (the firewall drops others); "
                      "check that the API load balancer or the control plane is running")
    if nodes_status in (401, 403):
        return Answer(False, f"{config.server} refused the kubeconfig's credentials (HTTP {nodes_status})",
                      "the kubeconfig belongs to an earlier cluster of this name: apply again writes a fresh one")
    git = str((version or {}).get("gitVersion", "?"))
    return Answer(True, f"{path} works from this machine: TLS to {config.server} verified with its CA and "
                        f"address; the API answers /version with {git}")


async def _certificate_refused(server: str, host: str, port: int, error: BaseException, timeout: float,
                               path: Path) -> Answer:
    code = getattr(error, "verify_code", None)
    message = getattr(error, "verify_message", None) or str(error)
    if code in _NAME_MISMATCH:
        try:
            names = await served_names(host, port, timeout)
        except (OSError, ssl.SSLError, TimeoutError, ValueError):
            names = []
        listed = f" (it names: {', '.join(names)})" if names else ""
        return Answer(False, f"the certificate served at {host}:{port} does not cover {host}, the address in "
                             f"{path}{listed}",
                      "the servers' certificates lack the API address the kubeconfig uses (e.g. a recreated API load "
                      "balancer): apply again adds it to every control plane's tls-san and restarts them one at a "
                      "time, then run verify again")
    return Answer(False, f"the certificate served at {server} is not trusted by the kubeconfig's CA: {message}",
                  "the kubeconfig belongs to another cluster or an earlier one of this name, or someone else answers "
                  "at that address: apply again writes a fresh kubeconfig; if it persists, check who holds the address")
