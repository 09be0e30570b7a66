import pathlib
from typing import Any

from pyhelm3.models import Chart, ReleaseRevision

class Client:
    def __init__(
        self,
        command: object | None = None,
        *,
        default_timeout: int | str = "5m",
        executable: str = "helm",
        history_max_revisions: int = 10,
        insecure_skip_tls_verify: bool = False,
        kubeconfig: pathlib.Path | None = None,
        kubecontext: str | None = None,
        kubeapiserver: str | None = None,
        kubetoken: str | None = None,
        unpack_directory: str | None = None,
    ) -> None: ...
    async def get_chart(
        self,
        chart_ref: pathlib.Path | str,
        *,
        devel: bool = False,
        repo: str | None = None,
        version: str | None = None,
    ) -> Chart: ...
    async def get_current_revision(self, release_name: str, *, namespace: str | None = None) -> ReleaseRevision: ...
    async def install_or_upgrade_release(
        self,
        release_name: str,
        chart: Chart,
        *values: dict[str, Any],
        atomic: bool = False,
        rollback_on_failure: bool = False,
        cleanup_on_fail: bool = False,
        create_namespace: bool = True,
        description: str | None = None,
        dry_run: bool = False,
        force: bool = False,
        force_replace: bool = False,
        force_conflicts: bool = False,
        namespace: str | None = None,
        no_hooks: bool = False,
        reset_values: bool = False,
        reuse_values: bool = False,
        server_side: str | None = None,
        skip_crds: bool = False,
        take_ownership: bool = False,
        timeout: int | str | None = None,
        wait: bool = False,
        disable_validation: bool = False,
    ) -> ReleaseRevision: ...
