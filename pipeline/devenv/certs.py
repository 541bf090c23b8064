"""A local certificate authority for the development services (Redis's TLS port, and any other local
service that serves TLS): one CA per state directory, server and client certificates signed by it.

Files, under ``<state_dir>/certs/`` (keys mode 0600): ``ca.crt``/``ca.key``, and per name
``<name>.crt``/``<name>.key``. Made once and reused while valid; nothing here is for production,
where certificates come from the operator's own PKI. Clients verify a local service with ``ca.crt``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipeline.devenv.process import write_private

VALIDITY = datetime.timedelta(days=825)
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertificatePair:
    cert_file: Path
    key_file: Path


class LocalCA:
    def __init__(self, directory: Path):
        self.directory = directory
        self.cert_file = directory / "ca.crt"
        self.key_file = directory / "ca.key"

    def ensure(self) -> LocalCA:
        """Create the CA unless a valid one exists."""
        if _valid(self.cert_file) and self.key_file.is_file():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alert-pipeline local development CA")])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.key_file, key)
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # A new CA invalidates what the old one signed.
        for leaf in self.directory.glob("*.crt"):
            if leaf != self.cert_file:
                leaf.unlink()
        return self

    def issue(self, name: str, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
              client: bool = False) -> CertificatePair:
        """A server certificate for ``hosts`` (also usable as a client certificate), or with ``client``
        a client-only one; reused while valid and signed by the current CA."""
        self.ensure()
        pair = CertificatePair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        if _valid(pair.cert_file, issuer=self.cert_file) and pair.key_file.is_file():
            return pair
        ca_key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                                   ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        )
        if not client:
            builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(pair.key_file, key)
        pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pair


def local_ca(state_dir: Path) -> LocalCA:
    return LocalCA(state_dir / "certs").ensure()


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _valid(cert_file: Path, issuer: Path | None = None) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if issuer is not None:
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(issuer.read_bytes()))
    except (OSError, ValueError, TypeError, InvalidSignature):  # missing, unreadable, or an older CA's
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > _now()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
