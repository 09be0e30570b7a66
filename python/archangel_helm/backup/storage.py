"""The backup bucket: streamed multipart uploads, manifests, listings and downloads, through boto3.

Credentials and region come from boto3's usual chain (IRSA web identity, AWS_* variables, profiles); an
endpoint URL makes it work with any S3-compatible store (MinIO, moto in the tests).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from archangel_helm.backup.errors import BackupConfigError, BackupError, IntegrityError, NotFoundError

MiB = 1 << 20
MIN_PART = 8 * MiB  # S3's floor is 5 MiB
MAX_PARTS = 10_000  # S3's ceiling
UPLOAD_THREADS = 4


def part_size_for(expected_bytes: int | None) -> int:
    """A part size that keeps a streamed upload under S3's 10,000-part limit, with 10 % headroom.

    A stream's length is unknown when the upload starts; the caller's estimate (the database size) sizes the
    parts, as `aws s3 cp - --expected-size` does. Memory used is about part size x (threads + 1).
    """
    if not expected_bytes:
        return MIN_PART * 2
    needed = math.ceil(expected_bytes * 1.1 / (MAX_PARTS * 0.9))
    return max(MIN_PART, math.ceil(needed / MiB) * MiB)


@dataclass(frozen=True)
class StoreConfig:
    bucket: str
    prefix: str = "archangel"
    region: str | None = None
    endpoint_url: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    # Static credentials as mounted files (a Secret); without them boto3's chain applies (IRSA, instance role).
    access_key_file: Path | None = None
    secret_key_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.bucket or len(self.bucket) < 3:
            raise BackupConfigError(
                f"bucket {self.bucket!r}: set --bucket or ARCHANGEL_BACKUP_BUCKET to an S3 bucket name"
            )
        if self.sse not in (None, "", "AES256", "aws:kms"):
            raise BackupConfigError(f"server-side encryption {self.sse!r}: use AES256 or aws:kms")
        if (self.access_key_file is None) != (self.secret_key_file is None):
            raise BackupConfigError("set both S3 credential files (access key and secret key) or neither")

    def credentials(self) -> tuple[str | None, str | None]:
        """(access key, secret key) from the credential files, or (None, None) for boto3's own chain."""
        if self.access_key_file is None or self.secret_key_file is None:
            return None, None
        try:
            return self.access_key_file.read_text().strip(), self.secret_key_file.read_text().strip()
        except OSError as error:
            raise BackupConfigError(f"S3 credential file: {error.filename}: {error.strerror}") from error


class ObjectStore:
    def __init__(self, config: StoreConfig, client: Any | None = None) -> None:
        self.config = config
        if client is None:
            import boto3

            access_key, secret_key = config.credentials()
            client = boto3.client(
                "s3",
                region_name=config.region,
                endpoint_url=config.endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
            )
        self.client: Any = client  # boto3 S3 client (typed loosely: the stubs reject **kwargs of optional fields)

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.config.prefix, *parts) if p)

    def _extra(self) -> dict[str, str]:
        extra = {}
        if self.config.sse:
            extra["ServerSideEncryption"] = self.config.sse
        if self.config.sse == "aws:kms" and self.config.kms_key_id:
            extra["SSEKMSKeyId"] = self.config.kms_key_id
        return extra

    def upload_stream(self, key: str, stream: IO[bytes] | io.RawIOBase, expected_bytes: int | None = None) -> None:
        from boto3.s3.transfer import TransferConfig

        part = part_size_for(expected_bytes)
        config = TransferConfig(
            multipart_threshold=part, multipart_chunksize=part, max_concurrency=UPLOAD_THREADS, use_threads=True
        )
        # A pipe cannot seek, so s3transfer copies each part into memory and by default holds up to 10 of them
        # beyond the ones being sent: at 1 TiB (~125 MiB parts) that alone would break the Job's memory limit.
        # One part per upload thread keeps the stream moving and memory at about (threads + 1) parts.
        config.max_in_memory_upload_chunks = UPLOAD_THREADS
        try:
            self.client.upload_fileobj(stream, self.config.bucket, key, ExtraArgs=self._extra() or None, Config=config)
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"upload of s3://{self.config.bucket}/{key} failed: {error}") from error

    def put_json(self, key: str, document: dict[str, Any]) -> None:
        body = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        try:
            self.client.put_object(
                Bucket=self.config.bucket, Key=key, Body=body, ContentType="application/json", **self._extra()
            )
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"upload of s3://{self.config.bucket}/{key} failed: {error}") from error

    def get_json(self, key: str) -> dict[str, Any]:
        where = f"s3://{self.config.bucket}/{key}"
        try:
            body = self.client.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as error:
            raise NotFoundError(f"{where} does not exist") from error
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"reading {where} failed: {error}") from error
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise IntegrityError(f"{where} is not valid JSON ({error}); it was damaged or not written by us") from None
        if not isinstance(document, dict):
            raise IntegrityError(f"{where} is JSON but not an object; it was damaged or not written by us")
        return document

    def check_bucket(self) -> None:
        """Fail before any work when the bucket does not exist, is not ours, or S3 cannot be reached."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.config.bucket}"
        try:
            self.client.head_bucket(Bucket=self.config.bucket)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise BackupConfigError(f"bucket {where} does not exist: create it, or fix --bucket") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise BackupConfigError(f"bucket {where}: access denied (check the IAM role or keys)") from None
            raise BackupError(f"bucket {where}: {error}") from error
        except BotoCoreError as error:
            raise BackupError(f"bucket {where}: S3 cannot be reached: {error}") from error

    def stream(self, key: str, chunk: int = MiB) -> Iterator[bytes]:
        """The object's bytes as they arrive, `chunk` at a time."""
        where = f"s3://{self.config.bucket}/{key}"
        try:
            body = self.client.get_object(Bucket=self.config.bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey as error:
            raise IntegrityError(f"{where} is missing: the backup is damaged") from error
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"download of {where} failed: {error}") from error
        try:
            yield from body.iter_chunks(chunk)
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"download of {where} failed: {error}") from error
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.config.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str) -> list[str]:
        return list(self.list_sizes(prefix))

    def list_sizes(self, prefix: str) -> dict[str, int]:
        """Every object under prefix, with its size."""
        paginator = self.client.get_paginator("list_objects_v2")
        sizes: dict[str, int] = {}
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix.rstrip("/") + "/"):
                sizes.update({item["Key"]: int(item["Size"]) for item in page.get("Contents", [])})
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"listing s3://{self.config.bucket}/{prefix} failed: {error}") from error
        return sizes

    def list_children(self, prefix: str) -> list[str]:
        """The next path segment under prefix (backup ids under a target)."""
        paginator = self.client.get_paginator("list_objects_v2")
        children = []
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix.rstrip("/") + "/", Delimiter="/"):
                children += [p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for p in page.get("CommonPrefixes", [])]
        except BackupError:
            raise  # already ours, with its own message: not an S3 failure
        except Exception as error:
            raise BackupError(f"listing s3://{self.config.bucket}/{prefix} failed: {error}") from error
        return sorted(children)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under prefix (see delete_keys)."""
        return self.delete_keys(self.list_keys(prefix), prefix)

    def delete_keys(self, keys: list[str], what: str) -> int:
        """Delete these objects; raises naming the keys S3 refused (it answers 200 with per-key errors, e.g.
        AccessDenied or an Object Lock retention), so a prune never reports deletions it did not make."""
        refused: list[str] = []
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                response = self.client.delete_objects(
                    Bucket=self.config.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except BackupError:
                raise  # already ours, with its own message: not an S3 failure
            except Exception as error:
                raise BackupError(f"deleting under s3://{self.config.bucket}/{what} failed: {error}") from error
            refused += [f"{e.get('Key')} ({e.get('Code')})" for e in response.get("Errors") or []]
        if refused:
            raise BackupError(
                f"s3://{self.config.bucket}/{what}: {len(refused)} of {len(keys)} objects not deleted: "
                + ", ".join(refused[:5])
                + (" ..." if len(refused) > 5 else "")
            )
        return len(keys)

    def check_access(self) -> str:
        """Prove the bucket is reachable and writable: head it, list it, write and delete a probe object."""
        from botocore.exceptions import BotoCoreError, ClientError

        probe = self.key(".archangel-backup-check")
        try:
            self.client.head_bucket(Bucket=self.config.bucket)
            self.client.list_objects_v2(Bucket=self.config.bucket, Prefix=self.key(""), MaxKeys=1)
            self.client.put_object(Bucket=self.config.bucket, Key=probe, Body=b"ok", **self._extra())
            self.client.delete_object(Bucket=self.config.bucket, Key=probe)
        except (ClientError, BotoCoreError) as error:
            raise BackupError(f"bucket s3://{self.config.bucket}: {error}") from error
        return f"s3://{self.config.bucket}/{self.key('')} is reachable and writable"
