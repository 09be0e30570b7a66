"""The data tier's certificates when no cert-manager serves them: a private CA and server certificates it signs,
kept in Secrets by the secrets hook.

The CA is made once and never replaced: every client trusts it by its ca.crt, so replacing it would cut them
all off at once. A server certificate is made once too and kept while it is valid; the one exception is a
certificate that no longer serves: one that expires within its renewal window, or does not name every DNS
name the chart now asks for, or was not signed by this CA. That one is reissued by the same CA, because the
alternative is an outage; clients notice nothing (they trust the CA, not the leaf). PostgreSQL's sidecar
reloads the server when the mounted files change, and Qdrant re-reads its certificate every tls.cert_ttl.

Keys are ECDSA P-256 (PostgreSQL's OpenSSL and Qdrant's rustls both take them, and they are small and fast),
written as PKCS#8 PEM.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from archangel_helm.hooks.secretstore import SecretIdentity, converge_secret
from archangel_helm.hooks.x509keys import key_usage

CA_KEYS = ("ca.crt", "ca.key")
SERVER_KEYS = ("tls.crt", "tls.key", "ca.crt")
# Certificates are valid from a little before now: a node whose clock is a minute behind still accepts them.
CLOCK_SKEW = datetime.timedelta(minutes=5)


class CertificateSpecError(ValueError):
    """The certificates part of the spec is malformed; the message names the field."""


@dataclass(frozen=True)
class CaSpec:
    secret: str
    common_name: str
    validity_days: int


@dataclass(frozen=True)
class ServerCertificateSpec:
    secret: str
    common_name: str
    dns_names: tuple[str, ...]
    validity_days: int
    renew_before_days: int


@dataclass(frozen=True)
class CertificatesSpec:
    ca: CaSpec
    servers: tuple[ServerCertificateSpec, ...]


@dataclass(frozen=True)
class PemKeyPair:
    certificate_pem: str
    key_pem: str

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an ECDSA key")
        return key


def parse_certificates(document: Any, where: str) -> CertificatesSpec:
    _require_object(document, where, {"ca", "servers"})
    ca = document.get("ca")
    _require_object(ca, f"{where}.ca", {"secret", "commonName", "validityDays"})
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers:
        raise CertificateSpecError(f"{where}.servers must be a non-empty list")
    parsed = []
    for index, server in enumerate(servers):
        at = f"{where}.servers[{index}]"
        fields = {"secret", "commonName", "dnsNames", "validityDays", "renewBeforeDays"}
        _require_object(server, at, fields)
        names = server.get("dnsNames")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise CertificateSpecError(f"{at}.dnsNames must be a non-empty list of DNS names")
        validity = _days(server, "validityDays", at)
        renew = _days(server, "renewBeforeDays", at)
        if renew >= validity:
            raise CertificateSpecError(f"{at}.renewBeforeDays ({renew}) must be less than validityDays ({validity})")
        parsed.append(
            ServerCertificateSpec(
                _name(server, "secret", at), _name(server, "commonName", at), tuple(names), validity, renew
            )
        )
    ca_spec = CaSpec(
        _name(ca, "secret", f"{where}.ca"),
        _name(ca, "commonName", f"{where}.ca"),
        _days(ca, "validityDays", f"{where}.ca"),
    )
    if len({s.secret for s in parsed} | {ca_spec.secret}) != len(parsed) + 1:
        raise CertificateSpecError(f"{where}: every certificate needs its own Secret")
    return CertificatesSpec(ca_spec, tuple(parsed))


def _require_object(value: Any, where: str, fields: set[str]) -> None:
    if not isinstance(value, dict):
        raise CertificateSpecError(f"{where}: expected an object with {', '.join(sorted(fields))}")
    if unknown := set(value) - fields:
        raise CertificateSpecError(f"{where}: unknown fields {sorted(unknown)}; allowed: {', '.join(sorted(fields))}")
    if missing := fields - set(value):
        raise CertificateSpecError(f"{where}: missing {', '.join(sorted(missing))}")


def _name(value: Mapping[str, Any], field: str, where: str) -> str:
    text = value[field]
    if not isinstance(text, str) or not text:
        raise CertificateSpecError(f"{where}.{field} must be a non-empty string")
    return text


def _days(value: Mapping[str, Any], field: str, where: str) -> int:
    days = value[field]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36500:
        raise CertificateSpecError(f"{where}.{field}: {days!r} must be a whole number of days from 1 to 36500")
    return days


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def new_ca(spec: CaSpec, now: datetime.datetime) -> PemKeyPair:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=spec.validity_days))
        # Signs server certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(signs_certificates=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return PemKeyPair(_certificate_pem(certificate), _key_pem(key))


def issue_server_certificate(ca: PemKeyPair, spec: ServerCertificateSpec, now: datetime.datetime) -> PemKeyPair:
    key = _new_key()
    ca_certificate = ca.certificate
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + datetime.timedelta(days=spec.validity_days), ca_certificate.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in spec.dns_names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(signs_certificates=False),
            critical=True,
        )
        # serverAuth for clients; clientAuth because Qdrant's peers present the same certificate to each other.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return PemKeyPair(_certificate_pem(certificate), _key_pem(key))


def reissue_reason(
    existing: Mapping[str, str], ca: PemKeyPair, spec: ServerCertificateSpec, now: datetime.datetime
) -> str | None:
    """Why the server certificate in `existing` must be reissued, or None when it still serves."""
    if missing := [k for k in SERVER_KEYS if k not in existing]:
        return f"it lacks {', '.join(missing)}"
    try:
        certificate = x509.load_pem_x509_certificate(existing["tls.crt"].encode())
    except ValueError:
        return "its tls.crt is not a PEM certificate"
    if existing["ca.crt"].strip() != ca.certificate_pem.strip():
        return "its ca.crt is not this release's CA"
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (InvalidSignature, ValueError, TypeError) as error:
        return f"it was not signed by this release's CA ({type(error).__name__})"
    try:
        names = set(
            certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName
            )
        )
    except x509.ExtensionNotFound:
        names = set()
    if absent := [n for n in spec.dns_names if n not in names]:
        return f"it does not name {', '.join(absent)}"
    remaining = certificate.not_valid_after_utc - now
    # A certificate cut at the CA's own end cannot be given more by this CA: reissuing it at every run would
    # change nothing (the CA's end is the hook's warning to act on).
    cut_at_ca = abs(certificate.not_valid_after_utc - ca.certificate.not_valid_after_utc) < datetime.timedelta(
        minutes=1
    )
    if remaining <= datetime.timedelta(days=spec.renew_before_days) and not cut_at_ca:
        return f"it expires in {max(remaining.days, 0)} days (renewal window {spec.renew_before_days} days)"
    return None


def server_secret_data(pair: PemKeyPair, ca: PemKeyPair) -> dict[str, str]:
    return {"tls.crt": pair.certificate_pem, "tls.key": pair.key_pem, "ca.crt": ca.certificate_pem}


def ca_from(existing: Mapping[str, str], secret: str) -> PemKeyPair:
    """The CA a Secret holds; a Secret that has only part of one is an error, never something to overwrite."""
    if missing := [k for k in CA_KEYS if k not in existing]:
        raise CertificateSpecError(
            f"secret {secret} exists without {', '.join(missing)}: it is not a CA this hook made; the hook never "
            "overwrites it. Delete it only if no client trusts it yet (every client must then get the new ca.crt)"
        )
    pair = PemKeyPair(existing["ca.crt"], existing["ca.key"])
    try:
        pair.key  # noqa: B018 - loading proves the key is readable before anything is signed with it
        if pair.certificate.public_key() != pair.key.public_key():
            raise ValueError("ca.crt and ca.key do not belong together")
    except ValueError as error:
        raise CertificateSpecError(f"secret {secret} does not hold a usable CA: {error}") from error
    return pair


# The CA cannot renew itself without cutting every client off: the hook says so loudly well before its end.
CA_WARNING = datetime.timedelta(days=180)


def ensure_certificates(
    api: Any,
    namespace: str,
    spec: CertificatesSpec,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    now: datetime.datetime | None = None,
) -> list[str]:
    """Make the CA Secret and every server certificate Secret exist and serve; one summary line per Secret."""
    now = now or datetime.datetime.now(datetime.UTC)
    lines: list[str] = []
    authority: list[PemKeyPair] = []

    def ca_changes(existing: Mapping[str, str] | None) -> dict[str, str]:
        if existing is None:
            authority[:] = [new_ca(spec.ca, now)]
            return {"ca.crt": authority[0].certificate_pem, "ca.key": authority[0].key_pem}
        authority[:] = [ca_from(existing, spec.ca.secret)]
        return {}

    result = converge_secret(api, namespace, SecretIdentity(spec.ca.secret, "Opaque", labels, annotations), ca_changes)
    ca = authority[0]
    ca_end = ca.certificate.not_valid_after_utc
    verb = "created" if result.created else "kept"
    lines.append(f"{verb} CA secret {namespace}/{spec.ca.secret} (valid until {ca_end:%Y-%m-%d})")
    if ca_end - now < CA_WARNING:
        lines.append(
            f"WARNING: the CA in {namespace}/{spec.ca.secret} expires on {ca_end:%Y-%m-%d}: replace it as "
            "docs/DISASTER_RECOVERY.md 'Data-tier certificates' says before then"
        )
    for server in spec.servers:
        lines.append(_ensure_server(api, namespace, server, ca, labels=labels, annotations=annotations, now=now))
    return lines


def _ensure_server(
    api: Any,
    namespace: str,
    spec: ServerCertificateSpec,
    ca: PemKeyPair,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    now: datetime.datetime,
) -> str:
    reasons: list[str] = []

    def changes(existing: Mapping[str, str] | None) -> dict[str, str]:
        reason = "absent" if existing is None else reissue_reason(existing, ca, spec, now)
        if reason is None:
            return {}
        reasons[:] = [reason]
        return server_secret_data(issue_server_certificate(ca, spec, now), ca)

    identity = SecretIdentity(spec.secret, "kubernetes.io/tls", labels, annotations)
    result = converge_secret(api, namespace, identity, changes)
    where = f"{namespace}/{spec.secret}"
    if result.created:
        return f"created server certificate {where} for {', '.join(spec.dns_names)}"
    if result.written:
        return f"reissued server certificate {where} with the same CA: {reasons[0]}"
    return f"kept server certificate {where}: valid and names every service"
