"""X.509 pieces both certificate makers share (the local control plane's PKI and the secrets hook's data-tier
certificates): the key usages of a CA and of a leaf."""

from __future__ import annotations

from cryptography import x509


def key_usage(*, signs_certificates: bool, key_encipherment: bool = False) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; a leaf signs (ECDHE handshakes) and, for RSA key exchange, enciphers."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )
