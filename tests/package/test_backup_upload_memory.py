"""A streamed upload holds a bounded number of parts in memory, whatever the database size.

The backup stream is a pipe (pg_dump | gzip | encrypt), which s3transfer cannot seek, so it copies every part
into memory; by default it reads up to 10 parts ahead of the uploads. With parts sized for a 1 TiB database
(~125 MiB) that would exceed the Job's memory limit, so the engine caps read-ahead at one part per thread.
This test uploads through real boto3/s3transfer to moto's in-process S3, with each UploadPart slowed down so
the reader races ahead, and measures how far ahead it gets.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archangel_helm.backup.storage import MIN_PART, UPLOAD_THREADS, ObjectStore, StoreConfig

PARTS = 14


class CountingZeros(io.RawIOBase):
    """A non-seekable stream of zeros that counts what has been read from it."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        self.read_bytes += count
        return count


@pytest.fixture
def s3_client() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="backups")
        yield client


def test_a_streamed_upload_reads_at_most_one_part_per_thread_ahead(s3_client: Any) -> None:
    stream = CountingZeros(PARTS * MIN_PART)
    uploaded = 0
    ahead: list[int] = []
    lock = threading.Lock()

    def slow_part(**_: Any) -> None:
        time.sleep(0.15)  # a slow network: the reader would otherwise race ahead

    def part_done(**_: Any) -> None:
        nonlocal uploaded
        with lock:
            uploaded += MIN_PART
            ahead.append(stream.read_bytes - uploaded)

    s3_client.meta.events.register("before-call.s3.UploadPart", slow_part)
    s3_client.meta.events.register("after-call.s3.UploadPart", part_done)
    store = ObjectStore(StoreConfig(bucket="backups"), client=s3_client)
    store.upload_stream("big.bin", stream, expected_bytes=PARTS * MIN_PART)

    assert s3_client.head_object(Bucket="backups", Key="big.bin")["ContentLength"] == PARTS * MIN_PART
    # In flight: one part per upload thread, plus the one being read; s3transfer's default would reach 10+.
    assert max(ahead) <= (UPLOAD_THREADS + 1) * MIN_PART, [a // MIN_PART for a in ahead]
