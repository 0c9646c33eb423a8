"""Certificates and the admin kubeconfig of a simulated cluster (EC keys, like k3s' own).

As in k3s, two CAs: the server CA (`ca_cert`: the kubeconfig's certificate-authority-data, the hash in
the join token, the issuer of the serving certificate on 6443) and the client CA, which signs the
admin's client certificate that the API authenticates."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class ClusterCertificates:
    """PEM texts of the cluster CA and the admin client certificate."""

    ca_cert: str
    ca_key: str
    client_cert: str
    client_key: str
    client_ca_cert: str = ""
    """Empty in states saved before the CAs were split: the client certificate was signed by `ca_cert`."""
    client_ca_key: str = ""

    @property
    def ca_hash(self) -> str:
        """SHA-256 of the CA certificate: the part of a full token between `K10` and `::`."""
        return hashlib.sha256(self.ca_cert.encode()).hexdigest()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _make_ca(kind: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"k3s-{kind}-ca@{int(now.timestamp())}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    return ca, ca_key


def make_certificates() -> ClusterCertificates:
    """Fresh server and client CAs and an admin certificate (O=system:masters) signed by the client CA."""
    now = dt.datetime.now(dt.UTC)
    server_ca, server_ca_key = _make_ca("server", now)
    ca, ca_key = _make_ca("client", now)
    ca_name = ca.subject
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                       x509.NameAttribute(NameOID.COMMON_NAME, "system:admin")]))
              .issuer_name(ca_name).public_key(client_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=365))
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    return ClusterCertificates(
        ca_cert=server_ca.public_bytes(serialization.Encoding.PEM).decode(), ca_key=_pem_key(server_ca_key),
        client_cert=client.public_bytes(serialization.Encoding.PEM).decode(), client_key=_pem_key(client_key),
        client_ca_cert=ca.public_bytes(serialization.Encoding.PEM).decode(), client_ca_key=_pem_key(ca_key))


def serving_certificate(certs: ClusterCertificates, sans: list[str]) -> tuple[str, str]:
    """PEM certificate and key for the API on 6443, signed by the server CA, valid for exactly `sans`
    (IP addresses become IP SANs, anything else DNS SANs; CN and O are k3s', as dynamiclistener sets them)."""
    now = dt.datetime.now(dt.UTC)
    ca = x509.load_pem_x509_certificate(certs.ca_cert.encode())
    ca_key = serialization.load_pem_private_key(certs.ca_key.encode(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "k3s"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "k3s")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def admin_kubeconfig(certs: ClusterCertificates) -> str:
    """`/etc/rancher/k3s/k3s.yaml` as k3s writes it: cluster, context and user all named `default`."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    config = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(certs.ca_cert),
                                  "server": "https://127.0.0.1:6443"}, "name": "default"}],
        "contexts": [{"context": {"cluster": "default", "user": "default"}, "name": "default"}],
        "current-context": "default",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "default", "user": {"client-certificate-data": b64(certs.client_cert),
                                               "client-key-data": b64(certs.client_key)}}],
    }
    return yaml.safe_dump(config, sort_keys=False)
