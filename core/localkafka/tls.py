"""The local broker's TLS material: a private CA and one broker certificate it signs (``cryptography``).

Layout under ``<state_dir>/kafka/tls``::

    ca.pem        the CA certificate: what clients (edge agents, agencies) trust
    ca.key        the CA's private key (0600), kept to sign a new broker certificate
    broker.pem    the broker's private key, certificate and the CA (0600): a PEM keystore

The broker certificate names ``localhost``, ``127.0.0.1`` and the host clients use
(``--tls-host``); a new host name means a new broker certificate from the same CA, so issued
client configs stay valid.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.clientconfig import write_secret_file

CA_VALIDITY = datetime.timedelta(days=3650)
BROKER_VALIDITY = datetime.timedelta(days=825)
# Clocks of clients a few minutes behind must not see a certificate from the future.
BACKDATE = datetime.timedelta(minutes=10)
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class TlsFiles:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def keystore(self) -> Path:
        return self.dir / "broker.pem"

    @property
    def names_file(self) -> Path:
        return self.dir / "broker.names"


def ensure_tls(files: TlsFiles, host: str) -> None:
    """A CA (made once) and a broker certificate valid for ``host``; reissued when the host changes."""
    files.dir.mkdir(parents=True, exist_ok=True)
    if not (files.ca.is_file() and files.ca_key.is_file()):
        _write_ca(files)
    names = sorted({*LOOPBACK_NAMES, host})
    current = (
        files.names_file.read_text(encoding="utf-8").split() if files.names_file.is_file() else []
    )
    if files.keystore.is_file() and current == names:
        return
    _write_broker_certificate(files, names)
    files.names_file.write_text(" ".join(names) + "\n", encoding="utf-8")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_ca(files: TlsFiles) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tilik local Kafka CA")])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_secret_file(files.ca_key, _private_pem(key), replace=True)
    files.ca.write_text(
        certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), encoding="ascii"
    )


def _write_broker_certificate(files: TlsFiles, names: list[str]) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key} is not the EC key this module writes")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tilik-kafka")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + BROKER_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
        serialization.Encoding.PEM
    )
    write_secret_file(files.keystore, _private_pem(key) + chain.decode("ascii"), replace=True)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    # Unencrypted PKCS#8: the keystore file's mode is what protects it, as for the admin password.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
