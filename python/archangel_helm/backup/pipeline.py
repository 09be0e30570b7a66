"""Streaming stages, both ways.

Sealing: plaintext -> zstd -> AES-256-CBC -> (sha256, HMAC) -> a readable stream for the upload. Compression and
encryption run in their own threads (zstd, zlib and the hash functions release the GIL), joined by small bounded
queues, so memory stays constant whatever the size of the data and the upload can read while the next block is
being compressed.

Unsealing: downloaded chunks -> (size, HMAC, sha256) on one thread, -> AES -> decompress -> file on another, in
one pass. Nothing decrypted is used before the whole object's HMAC matched: a mismatch removes the file and
reports only the mismatch (a decryption or decompression error is never shown for an object that failed its
HMAC, so no error tells an attacker about the plaintext), and the output may never outgrow the size the
authenticated manifest records.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac as _hmac
import io
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import zstandard

from archangel_helm.backup.codec import Codec, codec
from archangel_helm.backup.crypto import CHUNK, PBKDF2_ITERATIONS, Decryptor, Encryptor, KeyDerivation, new_mac
from archangel_helm.backup.errors import BackupError, IntegrityError
from archangel_helm.backup.keys import BackupKeys

QUEUE_BLOCKS = 8  # per stage: at most 8 x 1 MiB in flight between two stages
_DONE = object()
_POLL_SECONDS = 0.2  # how often a stage blocked on a queue looks whether the stream was closed
_JOIN_SECONDS = 5.0


class _Cancelled(Exception):
    """The stream was closed before its end: a stage stops quietly."""


@dataclass
class StreamStats:
    plain_bytes: int = 0
    compressed_bytes: int = 0
    cipher_bytes: int = 0
    sha256: str = ""
    hmac: str = ""
    salt: str = ""


class SealedStream(io.RawIOBase):
    """A readable stream of the sealed (compressed, encrypted) form of `source`.

    `stats` is complete once read() has returned b"" (end of stream). An error in a stage is raised from
    read(), so the upload fails instead of storing a truncated object.
    """

    def __init__(
        self,
        source: IO[bytes] | Any,
        keys: BackupKeys,
        *,
        level: int = 3,
        iterations: int | None = None,
        on_progress: Callable[[StreamStats], None] | None = None,
        compression: Codec | None = None,
    ) -> None:
        super().__init__()
        self._codec = compression or codec("zstd")
        self.stats = StreamStats()
        self._source = source
        self._level = level
        self._encryptor = Encryptor(keys.encryption, iterations or PBKDF2_ITERATIONS)
        self.stats.salt = self._encryptor.salt.hex()
        self._mac = new_mac(keys.mac)
        self._sha256 = hashlib.sha256()
        self._compressed: queue.Queue[object] = queue.Queue(QUEUE_BLOCKS)
        self._sealed: queue.Queue[object] = queue.Queue(QUEUE_BLOCKS)
        self._buffer = bytearray()
        self._finished = False
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._on_progress = on_progress
        self._threads = [
            threading.Thread(target=self._guard, args=(self._compress,), name="backup-compress", daemon=True),
            threading.Thread(target=self._guard, args=(self._seal,), name="backup-encrypt", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop both stages (an upload that failed leaves them blocked on full queues otherwise) and wait for them.

        A stage blocked reading `source` ends when the source does: the caller stops the producer (pg_dump)."""
        if not self.closed:
            self._cancelled.set()
            for thread in self._threads:
                thread.join(timeout=_JOIN_SECONDS)
        super().close()

    def _guard(self, stage: Callable[[], None]) -> None:
        try:
            stage()
        except _Cancelled:
            pass
        except BaseException as error:  # handed to the reader; the other stage is unblocked below
            self._error = error
            for target in (self._compressed, self._sealed):
                with contextlib.suppress(queue.Full):
                    target.put_nowait(_DONE)

    def _put(self, target: queue.Queue[object], item: object) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                target.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _get(self, source: queue.Queue[object]) -> object:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                return source.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue

    def _compress(self) -> None:
        compressor = self._codec.compressor(self._level)
        while block := self._source.read(CHUNK):
            self.stats.plain_bytes += len(block)
            if out := compressor.compress(block):
                self._put(self._compressed, out)
            if self._error:
                return
        self._put(self._compressed, compressor.flush())
        self._put(self._compressed, _DONE)

    def _seal(self) -> None:
        while (item := self._get(self._compressed)) is not _DONE:
            assert isinstance(item, bytes)
            self.stats.compressed_bytes += len(item)
            self._emit(self._encryptor.update(item))
            if self._on_progress:
                self._on_progress(self.stats)
        if self._error:
            return
        self._emit(self._encryptor.finalize())
        self.stats.sha256 = self._sha256.hexdigest()
        self.stats.hmac = self._mac.hexdigest()
        self._put(self._sealed, _DONE)

    def _emit(self, data: bytes) -> None:
        if data:
            self._sha256.update(data)
            self._mac.update(data)
            self.stats.cipher_bytes += len(data)
            self._put(self._sealed, data)

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = len(target)
        while len(self._buffer) < wanted and not self._finished:
            item = self._sealed.get()
            if self._error:
                raise self._error
            if item is _DONE:
                self._finished = True
                break
            assert isinstance(item, bytes)
            self._buffer += item
        count = min(wanted, len(self._buffer))
        target[:count] = self._buffer[:count]
        del self._buffer[:count]
        return count


def unseal(
    chunks: Iterator[bytes],
    target: IO[bytes],
    *,
    keys: BackupKeys,
    iterations: int,
    compression: Codec,
    encrypted_bytes: int,
    hmac_hex: str,
    sha256_hex: str | None,
    plain_bytes: int | None,
    source: str,
    derivation: KeyDerivation | None = None,
) -> int:
    """Write the plaintext of a sealed object, read as `chunks`, to `target`; returns its size.

    Raises IntegrityError when the object's size, HMAC or sha256 differ from the manifest's (then the caller must
    discard `target`: it may hold plaintext of an object that is not ours), or when it decrypts or decompresses
    wrongly although authentic (the wrong encryption key)."""
    worker = _PlainWriter(
        target,
        passphrase=keys.encryption,
        iterations=iterations,
        compression=compression,
        limit=plain_bytes,
        source=source,
        derivation=derivation,
    )
    digest, mac, received = hashlib.sha256(), new_mac(keys.mac), 0
    try:
        for chunk in chunks:
            received += len(chunk)
            if received > encrypted_bytes:
                break  # longer than the manifest says: replaced; reported below, nothing more is read
            digest.update(chunk)
            mac.update(chunk)
            worker.feed(chunk)
    except BaseException:
        worker.cancel()  # a download error or a signal: stop writing at once
        raise
    worker.finish()
    if received != encrypted_bytes:
        raise IntegrityError(
            f"{source}: {'more than' if received > encrypted_bytes else 'only'} {received:,} bytes, the manifest "
            f"says {encrypted_bytes:,} (truncated or replaced); nothing from it is used"
        )
    if not _hmac.compare_digest(mac.hexdigest(), hmac_hex):
        raise IntegrityError(
            f"{source}: HMAC-SHA256 mismatch (the object was modified or truncated, or the MAC key is wrong); "
            "nothing from it is used"
        )
    if sha256_hex is not None and digest.hexdigest() != sha256_hex:
        raise IntegrityError(f"{source}: sha256 {digest.hexdigest()} does not match the manifest's {sha256_hex}")
    return worker.result()


class _PlainWriter:
    """Decrypts, decompresses and writes on its own thread, fed through a bounded queue."""

    def __init__(
        self,
        target: IO[bytes],
        *,
        passphrase: bytes,
        iterations: int,
        compression: Codec,
        limit: int | None,
        source: str,
        derivation: KeyDerivation | None,
    ) -> None:
        self._target = target
        self._decryptor = Decryptor(passphrase, iterations, source, derivation)
        self._decompressor = compression.decompressor()
        self._algorithm = compression.algorithm
        self._limit = limit or None  # old manifests of hand-made backups record 0
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_BLOCKS)
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self.written = 0
        self._input_done = False
        self._thread = threading.Thread(target=self._run, name="restore-decrypt", daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            return  # keep hashing: the HMAC decides which error is reported
        while not self._cancelled.is_set():
            try:
                self._queue.put(chunk, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                if self._error is not None:
                    return

    def finish(self) -> None:
        """End of input: wait until everything fed is written, however long the target takes to take it (a slow
        disk, pg_restore busy with a table). Only cancel() may cut the output short."""
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        self._thread.join()

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join()

    def result(self) -> int:
        if self._error is not None:
            raise self._error
        if self._cancelled.is_set():
            raise BackupError(f"{self._source}: writing the plaintext was cancelled before its end")
        return self.written

    def _run(self) -> None:
        try:
            while (item := self._next()) is not _DONE:
                assert isinstance(item, bytes)
                self._write(self._decryptor.update(item))
            self._input_done = True
            self._write(self._decryptor.finalize())
            if not self._decompressor.eof:
                raise IntegrityError(
                    f"{self._source}: the decrypted data ends before its {self._algorithm} stream does (truncated)"
                )
        except _Cancelled:
            pass
        except BaseException as error:
            self._error = error
            if not self._input_done:
                self._drain()

    def _next(self) -> object:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                return self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue

    def _drain(self) -> None:
        """After an error, take what the reader still sends so it never blocks on a full queue."""
        while not self._cancelled.is_set():
            try:
                if self._queue.get(timeout=_POLL_SECONDS) is _DONE:
                    return
            except queue.Empty:
                continue

    def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            plain = self._decompressor.decompress(data)
        except (zlib.error, zstandard.ZstdError) as error:
            raise IntegrityError(
                f"{self._source}: the decrypted data is not a valid {self._algorithm} stream ({error}): "
                "wrong encryption key, or a damaged object"
            ) from error
        self.written += len(plain)
        if self._limit is not None and self.written > self._limit:
            raise IntegrityError(
                f"{self._source}: decompresses to more than the {self._limit:,} bytes the manifest records"
            )
        self._target.write(plain)


@dataclass
class Progress:
    """Prints how far a long stage has got, at most once per `every` bytes."""

    label: str
    every: int = 256 << 20
    printer: Callable[[str], None] = print
    _next: int = field(default=0, init=False)

    def __call__(self, stats: StreamStats) -> None:
        if stats.plain_bytes >= self._next:
            self.printer(
                f"{self.label}: {stats.plain_bytes / 2**20:,.0f} MiB read, {stats.cipher_bytes / 2**20:,.0f} MiB sealed"
            )
            self._next = stats.plain_bytes + self.every
