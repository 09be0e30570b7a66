import datetime
import enum
from collections.abc import Iterable
from typing import Any

class ChartMetadata:
    name: str
    version: str
    app_version: str | None
    kube_version: str | None
    description: str | None
    annotations: dict[str, str]

class Chart:
    ref: Any
    metadata: ChartMetadata

class ReleaseRevisionStatus(str, enum.Enum):
    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

class HookEvent(str, enum.Enum):
    PRE_INSTALL = "pre-install"
    POST_INSTALL = "post-install"
    PRE_DELETE = "pre-delete"
    POST_DELETE = "post-delete"
    PRE_UPGRADE = "pre-upgrade"
    POST_UPGRADE = "post-upgrade"
    PRE_ROLLBACK = "pre-rollback"
    POST_ROLLBACK = "post-rollback"
    TEST = "test"

class HookDeletePolicy(str, enum.Enum):
    HOOK_SUCCEEDED = "hook-succeeded"
    HOOK_FAILED = "hook-failed"
    HOOK_BEFORE_HOOK_CREATION = "before-hook-creation"

class HookPhase(str, enum.Enum):
    UNKNOWN = "Unknown"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

class Hook:
    name: str
    phase: HookPhase
    kind: str
    path: str
    resource: dict[str, Any]
    events: list[HookEvent]
    delete_policies: list[HookDeletePolicy]

class Release:
    name: str
    namespace: str

class ReleaseRevision:
    release: Release
    revision: int
    status: ReleaseRevisionStatus
    updated: datetime.datetime
    description: str | None
    notes: str | None
    async def chart_metadata(self) -> ChartMetadata: ...
    async def hooks(self) -> Iterable[Hook]: ...
    async def resources(self) -> Iterable[dict[str, Any]]: ...
    async def values(self, computed: bool = False) -> dict[str, Any]: ...
