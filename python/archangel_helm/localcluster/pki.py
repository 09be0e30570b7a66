"""The local control plane's certificates: one cluster CA that signs every serving and client certificate,
a front-proxy CA for the aggregation layer, and the service-account signing key, as kubeadm lays them out.

Client identities follow the API server's conventions (CN is the user, O the groups), so RBAC and the Node
authorizer see the same users a kubeadm cluster has: `system:kube-controller-manager`, `system:kube-scheduler`,
an administrator in `kubeadm:cluster-admins` (bound to cluster-admin at start, never `system:masters`, so
RBAC applies to it as it would to an operator), and the node simulator as an ordinary user of its own."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from archangel_helm.hooks.x509keys import key_usage

VALIDITY = datetime.timedelta(days=30)  # a test cluster lives minutes; a month covers a long debugging session
SERVER, CLIENT = "server", "client"

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertificateSpec:
    """One leaf certificate: file stem, subject, usage, and (for servers) the names it answers to."""

    stem: str
    common_name: str
    usage: str  # SERVER or CLIENT
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    signer: str = "ca"  # stem of the CA that signs it


@dataclass(frozen=True)
class KeyFiles:
    certificate: Path
    key: Path


def _write_key(path: Path, key: Key) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew between processes
        .not_valid_after(now + VALIDITY)
    )


def create_ca(directory: Path, stem: str, common_name: str) -> KeyFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    certificate = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            key_usage(signs_certificates=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = KeyFiles(directory / f"{stem}.crt", directory / f"{stem}.key")
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def issue(directory: Path, spec: CertificateSpec) -> KeyFiles:
    ca_certificate = x509.load_pem_x509_certificate((directory / f"{spec.signer}.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / f"{spec.signer}.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{spec.signer}.key is not the EC key this module writes")
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if spec.usage == SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(_name(spec.common_name, spec.organizations), ca_certificate.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(signs_certificates=False, key_encipherment=True),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    alternative_names: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.dns_names]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ip_addresses]
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    pair = KeyFiles(directory / f"{spec.stem}.crt", directory / f"{spec.stem}.key")
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def create_signing_key(path: Path) -> Path:
    """The service-account token signing key (RSA: what every OIDC consumer of the issuer accepts)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(path, key)
    return path
