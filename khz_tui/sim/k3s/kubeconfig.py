"""Certificates and the admin kubeconfig of a simulated cluster (EC keys, like k3s' own)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
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

    @property
    def ca_hash(self) -> str:
        """SHA-256 of the CA certificate: the part of a full token between `K10` and `::`."""
        return hashlib.sha256(self.ca_cert.encode()).hexdigest()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def make_certificates() -> ClusterCertificates:
    """A fresh client CA and an admin certificate (O=system:masters) signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"k3s-client-ca@{int(now.timestamp())}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
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
        ca_cert=ca.public_bytes(serialization.Encoding.PEM).decode(), ca_key=_pem_key(ca_key),
        client_cert=client.public_bytes(serialization.Encoding.PEM).decode(), client_key=_pem_key(client_key))


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
