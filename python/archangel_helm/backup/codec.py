"""Compression codecs of sealed objects: zstd for new backups, gzip still read for backups made before 0.2.0.

The manifest records the algorithm, so a restore picks the decompressor the backup was written with. Both are
readable by hand with the standard command-line tools (`zstd -d`, `gunzip`), as docs/DISASTER_RECOVERY.md shows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Protocol

import zstandard

from archangel_helm.backup.errors import BackupConfigError

ZSTD, GZIP = "zstd", "gzip"
DEFAULT_ALGORITHM = ZSTD


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    def decompress(self, data: bytes, /) -> bytes: ...


@dataclass(frozen=True)
class Codec:
    algorithm: str
    min_level: int
    max_level: int
    default_level: int
    suffix: str  # the object name's extension before ".enc"
    command: str  # how an operator decompresses by hand

    def check_level(self, level: int) -> int:
        if not self.min_level <= level <= self.max_level:
            raise BackupConfigError(
                f"--compression-level {level}: {self.algorithm} takes {self.min_level} (fastest) to "
                f"{self.max_level} (smallest); the default is {self.default_level}"
            )
        return level

    def compressor(self, level: int) -> Compressor:
        if self.algorithm == ZSTD:
            # One frame, written by one thread: zstd's worker threads were slower here than the single-threaded
            # compressor, which already outruns pg_dump and AES-CBC (docs/BENCHMARKS.md).
            return zstandard.ZstdCompressor(level=level).compressobj()
        return zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip member, readable by gunzip

    def decompressor(self) -> Decompressor:
        if self.algorithm == ZSTD:
            return zstandard.ZstdDecompressor().decompressobj()
        return zlib.decompressobj(31)


CODECS = {
    ZSTD: Codec(ZSTD, 1, 19, 3, ".zst", "zstd -d"),
    GZIP: Codec(GZIP, 1, 9, 6, ".gz", "gunzip"),
}


def codec(algorithm: str) -> Codec:
    try:
        return CODECS[algorithm]
    except KeyError:
        raise BackupConfigError(f"compression {algorithm!r}: this version reads {', '.join(CODECS)}") from None
