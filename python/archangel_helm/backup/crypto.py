"""openssl `enc -aes-256-cbc -pbkdf2 -md sha256 -iter N` compatible encryption, plus HMAC-SHA256 with a separate key.

Format (what `openssl enc -salt` writes): b"Salted__" + 8-byte salt + AES-256-CBC(PKCS#7-padded plaintext),
key and IV = PBKDF2-HMAC-SHA256(passphrase, salt, N, 48 bytes)[:32], [32:48]. CBC alone is malleable, so
every object also carries an HMAC-SHA256 over the whole ciphertext, checked before anything is decrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import IntegrityError

MAGIC = b"Salted__"
SALT_BYTES = 8
HEADER_BYTES = len(MAGIC) + SALT_BYTES
# OWASP's 2023 figure for PBKDF2-HMAC-SHA256; recorded in every manifest so it can change later.
PBKDF2_ITERATIONS = 600_000
CHUNK = 1 << 20


def derive(passphrase: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    material = hashlib.pbkdf2_hmac("sha256", passphrase, salt, iterations, dklen=48)
    return material[:32], material[32:]


class Encryptor:
    """Incremental encryption: feed plaintext, get ciphertext; the first output carries the header."""

    def __init__(self, passphrase: bytes, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> None:
        self.salt = salt if salt is not None else os.urandom(SALT_BYTES)
        if len(self.salt) != SALT_BYTES:
            raise ValueError(f"salt must be {SALT_BYTES} bytes")
        key, iv = derive(passphrase, self.salt, iterations)
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        self._padder = padding.PKCS7(128).padder()
        self._header_sent = False

    def _with_header(self, data: bytes) -> bytes:
        if self._header_sent:
            return data
        self._header_sent = True
        return MAGIC + self.salt + data

    def update(self, plaintext: bytes) -> bytes:
        return self._with_header(self._cipher.update(self._padder.update(plaintext)))

    def finalize(self) -> bytes:
        tail = self._cipher.update(self._padder.finalize()) + self._cipher.finalize()
        return self._with_header(tail)


def read_header(handle: BinaryIO, source: str) -> bytes:
    header = handle.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise IntegrityError(f"{source}: not an openssl 'Salted__' stream (truncated or not encrypted)")
    return header[len(MAGIC) :]


def decrypt_chunks(handle: BinaryIO, passphrase: bytes, iterations: int, source: str) -> Iterator[bytes]:
    """Plaintext of an openssl enc stream. Only call after the HMAC has been verified."""
    salt = read_header(handle, source)
    key, iv = derive(passphrase, salt, iterations)
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    while block := handle.read(CHUNK):
        yield unpadder.update(cipher.update(block))
    try:
        yield unpadder.update(cipher.finalize()) + unpadder.finalize()
    except ValueError as error:
        raise IntegrityError(f"{source}: bad padding after decryption (wrong encryption key?)") from error


def new_mac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def file_digests(path: Path, mac_key: bytes) -> tuple[str, str]:
    """(sha256, HMAC-SHA256) of a file, both hex."""
    digest, mac = hashlib.sha256(), new_mac(mac_key)
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            mac.update(block)
    return digest.hexdigest(), mac.hexdigest()


def verify_file(path: Path, mac_key: bytes, expected_hmac: str, expected_sha256: str | None, source: str) -> None:
    """Refuse a file whose HMAC (and digest, when known) differ from the manifest's: tampered, truncated or the
    wrong key. Runs before any decryption."""
    sha256, mac = file_digests(path, mac_key)
    if not hmac.compare_digest(mac, expected_hmac):
        raise IntegrityError(
            f"{source}: HMAC-SHA256 mismatch (the object was modified or truncated, or the MAC key is wrong); "
            "it was not decrypted"
        )
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise IntegrityError(f"{source}: sha256 {sha256} does not match the manifest's {expected_sha256}")
