"""`archangel-helm deploy ENV`: preflight, install or upgrade both charts through Helm (pyhelm3), verify,
load-check, report. Stops at the first failing step and says how to roll back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archangel_helm.core.chart import Chart, format_kube_version
from archangel_helm.core.helm import Helm
from archangel_helm.core.manifest import Manifest
from archangel_helm.operate import verify
from archangel_helm.operate.checks import Status, StepCheck, failed, table
from archangel_helm.operate.cluster import ClusterInfo, discover
from archangel_helm.operate.deploy_report import DeployReport
from archangel_helm.operate.immutable import ImmutableChange, immutable_changes
from archangel_helm.operate.preflight import run_preflight
from archangel_helm.plan.environments import Environment, ReleaseSpec
from archangel_helm.validate import SchemaValidator, default_crd_directories, supported_kube_versions
from archangel_helm.validate.crds import CrdSchemas

if TYPE_CHECKING:
    from pyhelm3 import Client  # imported where used: pyhelm3 pulls pydantic, which plan and check do not need
    from pyhelm3.errors import Error as HelmError

PROGRESS_SECONDS = 5.0


@dataclass
class DeployOptions:
    dry_run: bool = False
    timeout: str = "15m"
    kubeconfig: str | None = None
    context: str | None = None
    load_url: str | None = None
    load_duration: float | None = None  # None: the environment's verify.loadCheck.durationSeconds
    load_concurrency: int | None = None
    skip_load: bool = False
    allow_missing_apis: frozenset[str] = frozenset()  # preflight warns instead of failing on these


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _helm_message(error: HelmError) -> str:
    """Helm's own words from a pyhelm3 error (its stderr), or the error itself."""
    return error.stderr.decode(errors="replace").strip() or str(error) or type(error).__name__


def core_service(environment: Environment, cluster: ClusterInfo) -> dict[str, tuple[str, int]]:
    """The core Service of each app release, read from a render (names depend on the release name)."""
    found = {}
    for release in environment.releases:
        if release.chart.name != "archangel":
            continue
        manifest = cluster.release_inputs(release).render()
        for service in manifest.of_kind("Service"):
            labels = service["metadata"].get("labels", {})
            if labels.get("app.kubernetes.io/component") == "core" and service["spec"].get("type") == "ClusterIP":
                port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
                found[release.name] = (service["metadata"]["name"], int(port))
    return found


def quiet_pyhelm3() -> None:
    """pyhelm3 logs every command that exits non-zero as a warning, `helm status` of a release not yet installed
    included; the deployer reports Helm's failures itself, with Helm's own message."""
    logging.getLogger("pyhelm3").setLevel(logging.ERROR)


class Deployer:
    def __init__(self, environment: Environment, helm: Helm, options: DeployOptions, printer: Any = print) -> None:
        self.environment = environment
        self.helm = helm
        self.options = options
        self.print = printer
        self.connection = ""  # "context X -> https://server", set once connected
        self._deadline = 0.0  # time.monotonic() by which the release being installed must be up
        self.report = DeployReport(
            environment.name,
            "dry-run" if options.dry_run else "deploy",
            _now(),
            "",
            "running",
            versions={"helm": helm.build},
        )

    def stop(self, step: str, advice: list[str]) -> DeployReport:
        self.report.outcome = f"failed at {step}"
        self.report.finished_at = _now()
        self.report.next_steps = advice
        self.print(f"\nFAILED at {step}.")
        for line in advice:
            self.print(f"  - {line}")
        return self.report

    async def run(self, api_client: Any) -> DeployReport:
        cluster = await asyncio.to_thread(discover, api_client, {r.namespace for r in self.environment.releases})
        self.report.versions["kubernetes"] = cluster.git_version or format_kube_version(cluster.version)
        preflight = run_preflight(self.environment, cluster, self.helm, self.options.allow_missing_apis)
        if self.connection:
            preflight.insert(0, StepCheck("preflight", "cluster", Status.PASS, self.connection))
        self.report.checks += preflight
        self.print("Preflight\n" + table(preflight))
        if failed(preflight):
            return self.stop("preflight", [f"{r.name}: {r.detail}" for r in failed(preflight)])
        if self.options.dry_run:
            return await self._dry_run(cluster)
        get = verify.api_getter(api_client)
        for release in self.environment.releases:
            outcome = await self._install(release, get, cluster)
            if outcome is not None:
                return outcome
        return await self.verify_and_measure(get, cluster)

    async def _dry_run(self, cluster: ClusterInfo) -> DeployReport:
        """Render and validate each release against the APIs the cluster serves, then let Helm itself dry-run the
        upgrade (`helm upgrade --install --dry-run`: it reads the release history and renders with the cluster's
        capabilities), changing nothing."""
        from pyhelm3.errors import Error as HelmError

        crds = CrdSchemas.from_directories(*[d for d in default_crd_directories() if d.is_dir()])
        client = self._client()
        problems_found: list[str] = []
        for release in self.environment.releases:
            chart = Chart.load(release.chart)
            manifest = cluster.release_inputs(release).render()
            problems = SchemaValidator(supported_kube_versions(chart), crds).validate(manifest)
            refused = await self._refused_changes(client, release, manifest)
            objects = dict(sorted(manifest.kinds().items()))
            previous = await self._current_revision(client, release)
            try:
                helm_chart = await client.get_chart(release.chart)
                await client.install_or_upgrade_release(
                    release.name, helm_chart, release.inputs().values(), namespace=release.namespace, dry_run=True
                )
                helm_detail, helm_ok = (
                    f"helm would {'upgrade revision ' + str(previous) if previous else 'install'}",
                    True,
                )
            except HelmError as error:
                helm_detail, helm_ok = f"helm --dry-run failed: {_helm_message(error).splitlines()[-1]}", False
            self.report.releases[release.name] = {
                "chart": f"{chart.name}-{chart.version}",
                "namespace": release.namespace,
                "revision": previous or "-",
                "objects": objects,
            }
            ok = helm_ok and not problems and not refused
            detail = f"{len(manifest)} objects would be applied; {helm_detail}" + (
                f"; {len(problems)} schema problems" if problems else ""
            )
            if refused:
                detail += f"; {len(refused)} change(s) the API server would refuse"
            self.report.checks.append(StepCheck("render", release.name, Status.PASS if ok else Status.FAIL, detail))
            self.print(f"{release.name}: {detail} ({', '.join(f'{v} {k}' for k, v in objects.items())})")
            for finding in [*problems, *refused]:
                self.print(f"  {finding}")
            problems_found += [f"{release.name}: {p}" for p in [*problems, *refused]]
            if not helm_ok:
                problems_found.append(f"{release.name}: {helm_detail}")
        if problems_found:
            return self.stop("dry run", [*problems_found[:20], "nothing was changed"])
        self.report.outcome = "dry run: nothing was changed"
        self.report.succeeded = True
        self.report.finished_at = _now()
        self.report.next_steps = [f"run `archangel-helm deploy {self.environment.name}` to apply"]
        return self.report

    def _client(self) -> Client:
        from pyhelm3 import Client

        quiet_pyhelm3()
        return Client(
            executable=self.helm.executable,
            kubeconfig=Path(self.options.kubeconfig) if self.options.kubeconfig else None,
            kubecontext=self.options.context,
            default_timeout=self.options.timeout,
        )

    async def _current_revision(self, client: Client, release: ReleaseSpec) -> int | None:
        from pyhelm3.errors import ReleaseNotFoundError

        try:
            return (await client.get_current_revision(release.name, namespace=release.namespace)).revision
        except ReleaseNotFoundError:
            return None

    async def _refused_changes(self, client: Client, release: ReleaseSpec, rendered: Manifest) -> list[ImmutableChange]:
        """What the API server would refuse in this upgrade, from the objects Helm recorded for the installed
        revision; none for a first install."""
        from pyhelm3.errors import ReleaseNotFoundError

        try:
            installed = await client.get_current_revision(release.name, namespace=release.namespace)
        except ReleaseNotFoundError:
            return []
        return immutable_changes(list(await installed.resources()), rendered.objects, release.namespace)

    def _stop_on_refused(self, release: ReleaseSpec, changes: list[ImmutableChange]) -> DeployReport:
        for change in changes:
            self.report.checks.append(
                StepCheck("immutable", f"{release.name}: {change.kind}/{change.name}", Status.FAIL, str(change))
            )
        return self.stop(
            f"immutable fields of {release.name}",
            [*(str(c) for c in changes), "nothing was applied"],
        )

    async def _install(self, release: ReleaseSpec, get: verify.Get, cluster: ClusterInfo) -> DeployReport | None:
        from pyhelm3.errors import Error as HelmError

        client = self._client()
        chart = await client.get_chart(release.chart)
        previous = await self._current_revision(client, release)
        refused = await self._refused_changes(client, release, cluster.release_inputs(release).render())
        if refused:
            return self._stop_on_refused(release, refused)
        action = "upgrading" if previous else "installing"
        self.print(f"\n{action} {release.name} ({chart.metadata.name} {chart.metadata.version}) in {release.namespace}")
        watcher = asyncio.create_task(self._watch(get, release))
        # One timeout for the release: Helm's wait and then the operators' share it.
        self._deadline = time.monotonic() + verify.prometheus_duration_seconds(self.options.timeout)
        try:
            revision = await client.install_or_upgrade_release(
                release.name,
                chart,
                release.inputs().values(),
                namespace=release.namespace,
                create_namespace=True,
                wait=True,
                timeout=self.options.timeout,
            )
        except HelmError as error:
            message = _helm_message(error)
            self.report.checks.append(StepCheck("deploy", release.name, Status.FAIL, message[-1500:]))
            rollback = (
                f"roll back: helm rollback {release.name} {previous} -n {release.namespace} --wait"
                if previous
                else f"remove the failed install: helm uninstall {release.name} -n {release.namespace}"
            )
            return self.stop(
                f"deploy of {release.name}",
                [
                    f"helm failed: {message.splitlines()[-1] if message else error}",
                    rollback,
                    f"inspect: kubectl -n {release.namespace} get events --sort-by=.lastTimestamp",
                ],
            )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self.report.checks.append(
            StepCheck("deploy", release.name, Status.PASS, f"revision {revision.revision} {revision.status.value}")
        )
        stopped = await self._wait_for_operators(get, release, cluster, previous)
        if stopped is not None:
            return stopped
        manifest = cluster.release_inputs(release).render()
        self.report.releases[release.name] = {
            "chart": f"{chart.metadata.name}-{chart.metadata.version}",
            "namespace": release.namespace,
            "revision": revision.revision,
            "previous_revision": previous,
            "objects": dict(sorted(manifest.kinds().items())),
        }
        self.report.versions[release.name] = (
            f"{chart.metadata.name} {chart.metadata.version}, app {chart.metadata.app_version}"
        )
        return None

    async def _wait_for_operators(
        self, get: verify.Get, release: ReleaseSpec, cluster: ClusterInfo, previous: int | None
    ) -> DeployReport | None:
        """What operators make of the release (a CloudNativePG Cluster's instances, cert-manager's certificates)
        is not part of Helm's --wait: wait for it within the same timeout before verifying anything."""
        scope = verify.Scope(cluster.runs_containers, cluster.serves("metrics.k8s.io/v1beta1"))
        results = await asyncio.to_thread(
            verify.wait_for_operator_objects,
            get,
            release.namespace,
            release.name,
            scope,
            timeout_seconds=max(self._deadline - time.monotonic(), 0),
            progress=self.print,
        )
        if not failed(results):
            return None
        self.report.checks += results
        rollback = (
            f"roll back: helm rollback {release.name} {previous} -n {release.namespace} --wait"
            if previous
            else f"remove the failed install: helm uninstall {release.name} -n {release.namespace}"
        )
        return self.stop(
            f"operators of {release.name}",
            [*(f"{r.name}: {r.detail}" for r in failed(results)), f"not ready within {self.options.timeout}", rollback],
        )

    async def _watch(self, get: verify.Get, release: ReleaseSpec) -> None:
        """Print each workload's ready count whenever it changes, while Helm waits."""
        seen: dict[str, str] = {}
        while True:
            try:
                rows = await asyncio.to_thread(verify.check_rollouts, get, release.namespace, release.name)
            except Exception:  # progress is best-effort; Helm's own wait decides
                rows = []
            for row in rows:
                if seen.get(row.name) != row.detail and "no Deployment" not in row.detail:
                    seen[row.name] = row.detail
                    self.print(f"  {row.name}: {row.detail}")
            await asyncio.sleep(PROGRESS_SECONDS)

    async def verify_and_measure(self, get: verify.Get, cluster: ClusterInfo) -> DeployReport:
        cores = core_service(self.environment, cluster)
        scope = verify.Scope(cluster.runs_containers, cluster.serves("metrics.k8s.io/v1beta1"))
        results: list[StepCheck] = []
        for release in self.environment.releases:
            results += await asyncio.to_thread(
                verify.verify_release,
                get,
                environment=self.environment,
                namespace=release.namespace,
                release=release.name,
                core=cores.get(release.name),
                application=release.chart.name == "archangel",
                scope=scope,
            )
            results += await self._hook_results(release, scope)
        results += await asyncio.to_thread(verify.check_prometheus, get, self.environment, scope)
        self.report.checks += results
        self.print("\nVerification\n" + table(results))
        if failed(results):
            return self.stop("verification", [f"{r.name}: {r.detail}" for r in failed(results)] + self._rollbacks())
        load_failed = await self._load_check(scope)
        if load_failed:
            return self.stop("load check", [load_failed, *self._rollbacks()])
        self.report.outcome = "succeeded"
        self.report.succeeded = True
        self.report.finished_at = _now()
        self.report.next_steps = [
            "watch the overview dashboard for an hour; the SLO burn-rate alerts cover the rest",
            "the next database backup runs on schedule; `archangel-helm status "
            f"{self.environment.name}` shows its time",
        ]
        return self.report

    async def _hook_results(self, release: ReleaseSpec, scope: verify.Scope) -> list[StepCheck]:
        """What Helm recorded about the release and its hooks (the secrets hook, the backup configuration check),
        read through pyhelm3's typed revision (`helm status -o json` underneath)."""
        from pyhelm3.errors import Error as HelmError
        from pyhelm3.models import ReleaseRevisionStatus

        name = f"release {release.name}"
        try:
            revision = await self._client().get_current_revision(release.name, namespace=release.namespace)
            metadata = await revision.chart_metadata()
            hooks = list(await revision.hooks())
            resources = list(await revision.resources())
        except HelmError as error:
            return [StepCheck(verify.STEP, name, Status.FAIL, f"helm status: {_helm_message(error).splitlines()[-1]}")]
        except (ValueError, KeyError) as error:  # pydantic's ValidationError is a ValueError
            return [StepCheck(verify.STEP, name, Status.FAIL, f"helm status: not what pyhelm3 reads ({error})")]
        chart = f"{metadata.name} {metadata.version}"
        self.report.versions.setdefault(release.name, f"{chart}, app {metadata.app_version or '?'}")
        recorded = self.report.releases.setdefault(
            release.name,
            {
                "chart": f"{metadata.name}-{metadata.version}",
                "namespace": release.namespace,
                "revision": revision.revision,
            },
        )
        if "objects" not in recorded and resources:
            # What the deployed revision holds (hooks apart), as Helm stored it: verify renders nothing itself.
            recorded["objects"] = dict(sorted(Counter(str(obj.get("kind")) for obj in resources if obj).items()))
        deployed = revision.status is ReleaseRevisionStatus.DEPLOYED
        results = [
            StepCheck(
                verify.STEP,
                name,
                Status.PASS if deployed else Status.FAIL,
                f"revision {revision.revision} {revision.status.value}",
            )
        ]
        checked = verify.check_hooks(release.name, hooks)
        if not scope.runs_containers:  # the Job "completed" because the simulator said so, not because it ran
            checked = [replace(h, status=Status.SKIP, detail=f"{h.detail}; {verify.SIMULATED}") for h in checked]
        return results + checked

    def _rollbacks(self) -> list[str]:
        """How to undo each release this run changed: back to its previous revision, or out again if it is new."""
        return [
            f"roll back: helm rollback {name} {info['previous_revision']} -n {info['namespace']} --wait"
            if info.get("previous_revision")
            else f"remove the new install: helm uninstall {name} -n {info['namespace']} "
            "(kept: PVCs and the generated Secret, on purpose)"
            for name, info in self.report.releases.items()
            if "previous_revision" in info
        ]

    async def _load_check(self, scope: verify.Scope) -> str | None:
        url = self.options.load_url or self.environment.verify.load_url
        if not scope.runs_containers and not self.options.skip_load:
            self.report.checks.append(StepCheck("load", "load check", Status.SKIP, verify.SIMULATED))
            return None
        if self.options.skip_load or not url:
            self.report.checks.append(
                StepCheck("load", "load check", Status.SKIP, "no URL configured" if not url else "skipped")
            )
            return None
        from archangel_helm.loadcheck import LoadCheckConfig, format_summary, run_load_check_async

        config = LoadCheckConfig(
            url,
            concurrency=self.options.load_concurrency or self.environment.verify.load_concurrency,
            duration=self.options.load_duration or self.environment.verify.load_duration,
            warmup=2.0,
        )
        result = await run_load_check_async(config)
        self.report.load = result.as_dict()
        self.print("\nLoad check\n" + format_summary(result))
        status = Status.PASS if result.passed else Status.FAIL
        self.report.checks.append(
            StepCheck("load", "load check", status, "; ".join(c.describe() for c in result.verdict.checks))
        )
        return (
            None
            if result.passed
            else "the load check missed its thresholds: "
            + "; ".join(c.describe() for c in result.verdict.checks if not c.passed)
        )
