"""openssl `enc -aes-256-cbc -pbkdf2 -md sha256 -iter N` compatible encryption, plus HMAC-SHA256 with a separate key.

Format (what `openssl enc -salt` writes): b"Salted__" + 8-byte salt + AES-256-CBC(PKCS#7-padded plaintext),
key and IV = PBKDF2-HMAC-SHA256(passphrase, salt, N, 48 bytes)[:32], [32:48]. CBC alone is malleable, so
every object also carries an HMAC-SHA256 over the whole ciphertext, checked before anything is decrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from archangel_helm.backup.errors import IntegrityError

MAGIC = b"Salted__"
SALT_BYTES = 8
HEADER_BYTES = len(MAGIC) + SALT_BYTES
# OWASP's 2023 figure for PBKDF2-HMAC-SHA256; recorded in every manifest so it can change later.
PBKDF2_ITERATIONS = 600_000
CHUNK = 1 << 20


def derive(passphrase: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    material = hashlib.pbkdf2_hmac("sha256", passphrase, salt, iterations, dklen=48)
    return material[:32], material[32:]


class KeyDerivation:
    """PBKDF2 (600,000 rounds: about 0.2 s) started ahead, on its own thread (hashlib releases the GIL), from the
    salt the manifest records, so it runs while the object downloads instead of before it."""

    def __init__(self, passphrase: bytes, salt: bytes, iterations: int) -> None:
        self.salt = salt
        self._result: tuple[bytes, bytes] | None = None
        self._thread = threading.Thread(
            target=self._run, args=(passphrase, salt, iterations), name="backup-kdf", daemon=True
        )
        self._thread.start()

    def _run(self, passphrase: bytes, salt: bytes, iterations: int) -> None:
        self._result = derive(passphrase, salt, iterations)

    def result(self) -> tuple[bytes, bytes] | None:
        self._thread.join()
        return self._result


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


class Decryptor:
    """Incremental decryption of an openssl enc stream: the header (magic and salt) from the first bytes, then
    AES-256-CBC with PKCS#7 padding removed at the end. Only trust its output once the object's HMAC matched."""

    def __init__(
        self, passphrase: bytes, iterations: int, source: str, derivation: KeyDerivation | None = None
    ) -> None:
        self._passphrase = passphrase
        self._iterations = iterations
        self._source = source
        self._derivation = derivation
        self._header = b""
        self._cipher: Any = None
        self._unpadder = padding.PKCS7(128).unpadder()

    def update(self, data: bytes) -> bytes:
        if self._cipher is None:
            self._header += data
            if len(self._header) < HEADER_BYTES:
                return b""
            data, header = self._header[HEADER_BYTES:], self._header[:HEADER_BYTES]
            if not header.startswith(MAGIC):
                raise IntegrityError(f"{self._source}: not an openssl 'Salted__' stream (not encrypted?)")
            salt = header[len(MAGIC) :]
            ahead = self._derivation.result() if self._derivation and self._derivation.salt == salt else None
            key, iv = ahead or derive(self._passphrase, salt, self._iterations)
            self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        return bytes(self._unpadder.update(self._cipher.update(data)))

    def finalize(self) -> bytes:
        if self._cipher is None:
            raise IntegrityError(f"{self._source}: shorter than an openssl 'Salted__' header (truncated)")
        try:
            return bytes(self._unpadder.update(self._cipher.finalize()) + self._unpadder.finalize())
        except ValueError as error:
            raise IntegrityError(f"{self._source}: bad padding after decryption (wrong encryption key?)") from error


def new_mac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)
