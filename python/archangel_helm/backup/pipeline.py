"""Streaming stages: plaintext -> gzip -> AES-256-CBC -> (sha256, HMAC) -> a readable stream for the upload.

Compression and encryption run in their own threads (zlib and the hash functions release the GIL), joined by
small bounded queues, so memory stays constant whatever the size of the data and the upload can read while
the next block is being compressed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .crypto import CHUNK, PBKDF2_ITERATIONS, Encryptor, new_mac
from .errors import IntegrityError
from .keys import BackupKeys

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


def gzip_compressor(level: int) -> zlib._Compress:
    return zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip member, readable by gunzip


class SealedStream(io.RawIOBase):
    """A readable stream of the sealed (compressed, encrypted) form of `source`.

    `stats` is complete once read() has returned b"" (end of stream). An error in a stage is raised from
    read(), so the upload fails instead of storing a truncated object.
    """

    def __init__(
        self,
        source: IO[bytes] | Any,
        keys: BackupKeys,
        level: int = 6,
        iterations: int | None = None,
        on_progress: Callable[[StreamStats], None] | None = None,
    ) -> None:
        super().__init__()
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
        compressor = gzip_compressor(self._level)
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


def plain_chunks(sealed: Iterator[bytes]) -> Iterator[bytes]:
    """Decompress the gzip stream produced by decrypting a sealed object."""
    decompressor = zlib.decompressobj(31)
    try:
        for block in sealed:
            if out := decompressor.decompress(block):
                yield out
        tail = decompressor.flush()
    except zlib.error as error:
        raise IntegrityError(
            f"the decrypted data is not a valid gzip stream ({error}): wrong encryption key, or a damaged object"
        ) from error
    if not decompressor.eof:
        raise IntegrityError("the decrypted data ends before its gzip stream does (truncated backup)")
    if tail:
        yield tail


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
