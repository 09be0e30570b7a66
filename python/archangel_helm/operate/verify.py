"""Post-deploy verification, as a library: the same promises tests/live makes, checked on a live cluster
through its API (the service proxy reaches in-cluster HTTP endpoints without a port-forward)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter

from archangel_helm.operate.checks import Status, StepCheck, failed
from archangel_helm.plan.environments import Environment

if TYPE_CHECKING:
    from pyhelm3.models import Hook

STEP = "verify"
Get = Callable[[str], Any]  # GET a path of the Kubernetes API, returning parsed JSON (or text for proxies)

SIMULATED = (
    "not checked: the cluster's nodes are simulated (kwok), so no container runs and nothing answers; "
    "a cluster with real nodes checks it (tests/live on kind)"
)


@dataclass(frozen=True)
class Scope:
    """What the cluster can show: containers that run (not simulated nodes), and the resource metrics API.
    A check the cluster cannot show is reported as skipped with the reason, never passed."""

    runs_containers: bool = True
    metrics_api: bool = True


def api_getter(api_client: Any) -> Get:
    from archangel_helm.operate.connect import get_json

    def get(path: str) -> Any:
        return get_json(api_client, path)

    return get


def error_text(error: BaseException) -> str:
    """One line for a failed API call: `404 Not Found` for an HTTP error, the error itself otherwise (the client's
    ApiException text carries every response header and body, which no report needs)."""
    status = getattr(error, "status", None)
    if status:
        return f"{status} {getattr(error, 'reason', '') or ''}".strip()
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _items(get: Get, path: str) -> list[dict[str, Any]]:
    return list((get(path) or {}).get("items") or [])


def _selector(release: str) -> str:
    return f"labelSelector=app.kubernetes.io%2Finstance%3D{release}"


def check_rollouts(get: Get, namespace: str, release: str) -> list[StepCheck]:
    results = []
    for kind, path in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
        for obj in _items(get, f"/apis/apps/v1/namespaces/{namespace}/{path}?{_selector(release)}"):
            name = obj["metadata"]["name"]
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            desired = int(spec.get("replicas", 1))
            ready = int(status.get("readyReplicas", 0))
            updated = int(status.get("updatedReplicas", status.get("currentReplicas", 0)) or 0)
            # Until the controller has observed the newest spec, its counts describe the previous one.
            generation = int(obj["metadata"].get("generation", 0))
            observed = int(status.get("observedGeneration", generation))
            ok = ready >= desired and updated >= desired and observed >= generation
            detail = f"{ready}/{desired} ready, {updated} updated"
            if observed < generation:
                detail += f"; generation {generation} not yet observed (controller at {observed})"
            results.append(StepCheck(STEP, f"rollout {kind}/{name}", Status.PASS if ok else Status.FAIL, detail))
    if not results:
        results.append(StepCheck(STEP, f"rollouts ({release})", Status.FAIL, "no Deployment or StatefulSet found"))
    return results


# Objects an operator turns into running things after Helm is done: Helm's --wait does not wait for them.
CNPG_HEALTHY = "Cluster in healthy state"  # CloudNativePG's status.phase (api/v1 cluster_types.go)


def check_operator_objects(get: Get, namespace: str, release: str, scope: Scope = Scope()) -> list[StepCheck]:
    """CloudNativePG Clusters in their healthy phase with every instance ready, and cert-manager Certificates
    Ready. A kind the cluster does not serve is not checked (the chart renders none without its API); on
    simulated nodes no operator runs, so each object is skipped with the reason."""
    results = []
    kinds = (
        ("Cluster", f"/apis/postgresql.cnpg.io/v1/namespaces/{namespace}/clusters", _cluster_health),
        ("Certificate", f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates", _certificate_health),
    )
    for kind, path, health in kinds:
        try:
            objects = _items(get, f"{path}?{_selector(release)}")
        except Exception as error:
            if getattr(error, "status", None) == 404:  # the API is not served: nothing of this kind was installed
                continue
            raise
        for obj in objects:
            name = f"{kind}/{obj['metadata']['name']}"
            if not scope.runs_containers:
                results.append(StepCheck(STEP, name, Status.SKIP, SIMULATED))
                continue
            ok, detail = health(obj)
            results.append(StepCheck(STEP, name, Status.PASS if ok else Status.FAIL, detail))
    return results


def wait_for_operator_objects(
    get: Get,
    namespace: str,
    release: str,
    scope: Scope,
    *,
    timeout_seconds: float,
    poll_seconds: float = 5,
    progress: Callable[[str], None] = print,
) -> list[StepCheck]:
    """check_operator_objects until none fails or the time is up; the last results. Helm's --wait ends when the
    Deployments and StatefulSets are ready; a CloudNativePG Cluster is still creating its replicas then, and a
    Certificate may not be issued yet."""
    deadline = time.monotonic() + timeout_seconds
    seen: dict[str, str] = {}
    while True:
        # An API error (a 403 from narrow RBAC, a timeout) is a failed row, polled again until the deadline.
        results = guarded(f"operators ({release})", lambda: check_operator_objects(get, namespace, release, scope))
        for result in results:
            if seen.get(result.name) != result.detail:
                seen[result.name] = result.detail
                progress(f"  {result.name}: {result.detail}")
        if not failed(results) or time.monotonic() >= deadline:
            return results
        time.sleep(poll_seconds)


def _cluster_health(obj: dict[str, Any]) -> tuple[bool, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = str(status.get("phase") or "no phase yet")
    instances, ready = int(spec.get("instances", 1)), int(status.get("readyInstances", 0))
    detail = f"{phase}; {ready}/{instances} instances ready"
    if status.get("phaseReason"):
        detail += f" ({status['phaseReason']})"
    return phase == CNPG_HEALTHY and ready >= instances, detail


def _certificate_health(obj: dict[str, Any]) -> tuple[bool, str]:
    conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    ready = conditions.get("Ready") or {}
    detail = f"Ready={ready.get('status', 'unknown')}"
    if ready.get("message"):
        detail += f": {ready['message']}"
    return ready.get("status") == "True", detail


def check_endpoints(get: Get, namespace: str, release: str) -> list[StepCheck]:
    results = []
    for service in _items(get, f"/api/v1/namespaces/{namespace}/services?{_selector(release)}"):
        name = service["metadata"]["name"]
        if not (service.get("spec") or {}).get("selector"):
            continue
        slices = _items(
            get,
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io%2Fservice-name%3D{name}",
        )
        ready = sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))
        results.append(
            StepCheck(
                STEP, f"endpoints Service/{name}", Status.PASS if ready else Status.FAIL, f"{ready} ready endpoint(s)"
            )
        )
    return results


def check_health(get: Get, namespace: str, service: str, port: int, path: str) -> StepCheck:
    url = f"/api/v1/namespaces/{namespace}/services/http:{service}:{port}/proxy{path}"
    try:
        get(url)
    except Exception as error:  # any failure of the probe is the finding
        return StepCheck(
            STEP, f"health {service}{path}", Status.FAIL, f"GET through the API proxy failed: {error_text(error)}"
        )
    return StepCheck(STEP, f"health {service}{path}", Status.PASS, "answered 2xx")


def check_autoscalers(get: Get, namespace: str, release: str) -> list[StepCheck]:
    results = []
    for hpa in _items(
        get, f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers?{_selector(release)}"
    ):
        name = hpa["metadata"]["name"]
        status = hpa.get("status") or {}
        metrics = status.get("currentMetrics") or []
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        active = (conditions.get("ScalingActive") or {}).get("status") == "True"
        expected = len((hpa.get("spec") or {}).get("metrics") or [])
        ok = active and len(metrics) >= expected
        detail = (
            f"{len(metrics)}/{expected} metrics reported, {status.get('currentReplicas', '?')} replicas "
            f"({hpa['spec'].get('minReplicas')}-{hpa['spec'].get('maxReplicas')})"
        )
        if not active:
            detail += f"; ScalingActive: {(conditions.get('ScalingActive') or {}).get('message', 'not reported')}"
        results.append(StepCheck(STEP, f"HPA {name}", Status.PASS if ok else Status.FAIL, detail))
    return results


def check_disruption_budgets(get: Get, namespace: str, release: str, scope: Scope = Scope()) -> list[StepCheck]:
    results = []
    for pdb in _items(get, f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets?{_selector(release)}"):
        status = pdb.get("status") or {}
        allowed = int(status.get("disruptionsAllowed", 0))
        name = f"PDB {pdb['metadata']['name']}"
        if status.get("expectedPods") == 0:
            # A budget over pods that do not exist: an operator's (PgBouncer's) that it has not started.
            if not scope.runs_containers:
                results.append(StepCheck(STEP, name, Status.SKIP, "selects no pods yet; " + SIMULATED))
            else:
                results.append(StepCheck(STEP, name, Status.FAIL, "selects no pods: the pods it protects do not run"))
            continue
        results.append(
            StepCheck(STEP, name, Status.PASS if allowed >= 1 else Status.FAIL, f"{allowed} disruption(s) allowed")
        )
    return results


# A year of runs from a fixed start: every gap a schedule has (month lengths, weekdays) shows within it.
_PERIOD_WINDOW = timedelta(days=366)
_PERIOD_START = datetime(2026, 1, 1, tzinfo=UTC)
_MAX_RUNS = 20_000  # a schedule that runs more often than every half hour: its longest gap is found long before


def schedule_period_hours(schedule: str) -> float:
    """The longest a cron schedule waits between two runs, in hours (what staleness is judged by), as croniter
    reads the schedule: names (MON-FRI, JAN), steps, lists, macros (@daily) and Kubernetes' CRON_TZ prefix.
    Raises ValueError naming the schedule when it is not one."""
    expression = schedule.strip()
    if expression.startswith(("CRON_TZ=", "TZ=")):
        expression = expression.split(None, 1)[1] if " " in expression else ""
    try:
        runs = croniter(expression, _PERIOD_START)
    except (ValueError, KeyError) as error:  # CroniterError is a ValueError
        raise ValueError(f"cron schedule {schedule!r} is not valid: {error}") from error
    previous = runs.get_next(datetime)
    longest = timedelta(0)
    for _ in range(_MAX_RUNS):
        current = runs.get_next(datetime)
        longest = max(longest, current - previous)
        if current - _PERIOD_START > _PERIOD_WINDOW:
            break
        previous = current
    return longest.total_seconds() / 3600


GRACE_HOURS = 2.0  # a run's own duration plus a late start


def _hours_since(timestamp: Any, now: datetime) -> float:
    """Hours from an API timestamp ("2026-11-28T02:00:00Z") to now."""
    return (now - datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))).total_seconds() / 3600


def _never_succeeded(name: str, spec: dict[str, Any], scheduled: Any, now: datetime) -> StepCheck:
    schedule = " ".join(filter(None, [spec.get("schedule"), spec.get("timeZone")]))
    if not scheduled:
        return StepCheck(STEP, f"CronJob {name}", Status.PASS, f"scheduled ({schedule}), no run yet")
    hours = _hours_since(scheduled, now)
    if hours <= GRACE_HOURS:  # the first run may still be going
        return StepCheck(STEP, f"CronJob {name}", Status.PASS, f"first run started {hours:.1f} h ago ({schedule})")
    return StepCheck(
        STEP, f"CronJob {name}", Status.FAIL, f"never succeeded; last run started {hours:.1f} h ago ({schedule})"
    )


def check_backups(get: Get, namespace: str, release: str, now: datetime) -> list[StepCheck]:
    """Every CronJob of the release is scheduled, and its last success is no older than its period plus grace."""
    results = []
    for cronjob in _items(get, f"/apis/batch/v1/namespaces/{namespace}/cronjobs?{_selector(release)}"):
        name = cronjob["metadata"]["name"]
        spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
        if spec.get("suspend"):
            results.append(StepCheck(STEP, f"CronJob {name}", Status.FAIL, "suspended"))
            continue
        last = status.get("lastSuccessfulTime")
        if not last:
            results.append(_never_succeeded(name, spec, status.get("lastScheduleTime"), now))
            continue
        hours = _hours_since(last, now)
        try:
            limit = schedule_period_hours(str(spec.get("schedule", ""))) + GRACE_HOURS
        except ValueError as error:
            results.append(StepCheck(STEP, f"CronJob {name}", Status.FAIL, str(error)))
            continue
        results.append(
            StepCheck(
                STEP,
                f"CronJob {name}",
                Status.PASS if hours <= limit else Status.FAIL,
                f"last success {hours:.1f} h ago (limit {limit:.0f} h for {spec.get('schedule')})",
            )
        )
    return results


def check_hooks(release: str, hooks: Iterable[Hook]) -> list[StepCheck]:
    """The release's Helm hooks as Helm recorded their last run (pyhelm3's typed hooks, from `helm status`): the
    secrets hook and the backup configuration check must have succeeded. Test hooks (`helm test`) are not part
    of an install; RBAC and ConfigMaps of hooks have no outcome of their own."""
    from pyhelm3.models import HookEvent, HookPhase

    results = []
    for hook in hooks:
        if hook.kind != "Job" or (hook.events and all(e is HookEvent.TEST for e in hook.events)):
            continue
        phase = "never run" if hook.phase is HookPhase.UNKNOWN else hook.phase.value
        ok = hook.phase is HookPhase.SUCCEEDED
        detail = f"last run: {phase} ({release})"
        results.append(StepCheck(STEP, f"hook Job/{hook.name}", Status.PASS if ok else Status.FAIL, detail))
    return results


MIN_RETENTION_DAYS = 30  # the platform's promise: 30 days of metrics, whichever Prometheus holds them
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def prometheus_duration_seconds(text: str) -> float:
    """A Prometheus duration ("30d", "1w2d", "720h") in seconds; ValueError for anything else."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)


def check_retention(flags: dict[str, Any]) -> StepCheck:
    """The TSDB keeps at least MIN_RETENTION_DAYS, read from the running Prometheus's own flags (both modes)."""
    data = flags.get("data") or {}
    value = str(data.get("storage.tsdb.retention.time") or data.get("storage.tsdb.retention") or "")
    try:
        days = prometheus_duration_seconds(value) / 86400
    except ValueError:
        return StepCheck(STEP, "Prometheus retention", Status.FAIL, f"cannot read the retention flag ({value!r})")
    size = data.get("storage.tsdb.retention.size", "0B")
    detail = f"{value} (size cap {size}); needs >= {MIN_RETENTION_DAYS}d"
    return StepCheck(STEP, "Prometheus retention", Status.PASS if days >= MIN_RETENTION_DAYS else Status.FAIL, detail)


def check_prometheus(get: Get, environment: Environment, scope: Scope = Scope()) -> list[StepCheck]:
    if not scope.runs_containers:
        return [StepCheck(STEP, "Prometheus", Status.SKIP, SIMULATED)]
    spec = environment.verify
    service = f"http:{spec.prometheus_service}:{spec.prometheus_port}"
    base = f"/api/v1/namespaces/{spec.prometheus_namespace}/services/{service}/proxy"
    try:
        targets = _json(get(f"{base}/api/v1/targets?state=active"))
        alerts = _json(get(f"{base}/api/v1/alerts"))
        flags = _json(get(f"{base}/api/v1/status/flags"))
    except Exception as error:  # an unreachable Prometheus is the finding
        return [StepCheck(STEP, "Prometheus", Status.FAIL, f"not reachable through the API proxy: {error_text(error)}")]
    active = targets.get("data", {}).get("activeTargets", [])
    ours = [
        t for t in active if t.get("labels", {}).get("component") or "archangel" in t.get("labels", {}).get("job", "")
    ]
    down = [
        t.get("labels", {}).get("job", "?") + "/" + t.get("labels", {}).get("pod", "?")
        for t in ours
        if t.get("health") != "up"
    ]
    firing = [
        a["labels"].get("alertname", "?")
        for a in alerts.get("data", {}).get("alerts", [])
        if a.get("state") == "firing" and a.get("labels", {}).get("severity") == "critical"
    ]
    return [
        StepCheck(
            STEP,
            "Prometheus targets",
            Status.PASS if ours and not down else Status.FAIL,
            f"{len(ours) - len(down)}/{len(ours)} Archangel targets up"
            + (f"; down: {', '.join(down)}" if down else ""),
        ),
        StepCheck(
            STEP,
            "critical alerts",
            Status.FAIL if firing else Status.PASS,
            f"firing: {', '.join(sorted(set(firing)))}" if firing else "none firing",
        ),
        check_retention(flags),
    ]


def _json(data: Any) -> dict[str, Any]:
    if isinstance(data, str):
        parsed: dict[str, Any] = json.loads(data)
        return parsed
    return dict(data or {})


def guarded(name: str, check: Callable[[], list[StepCheck]]) -> list[StepCheck]:
    """Run one check; an API error (a 403 from narrow RBAC, a 404 for an API the cluster lacks) becomes a failed
    row naming what could not be read, so one unreadable kind does not hide the other checks."""
    try:
        return check()
    except Exception as error:
        return [StepCheck(STEP, name, Status.FAIL, f"could not read: {error_text(error)}")]


def verify_release(
    get: Get,
    *,
    environment: Environment,
    namespace: str,
    release: str,
    core: tuple[str, int] | None,
    now: datetime | None = None,
    application: bool = True,
    scope: Scope = Scope(),
) -> list[StepCheck]:
    """Every check of one release. The monitoring release has no autoscalers or backups: only rollouts,
    endpoints and disruption budgets apply to it (application=False)."""
    moment = now or datetime.now(UTC)
    results = guarded(f"rollouts ({release})", lambda: check_rollouts(get, namespace, release))
    results += guarded(f"endpoints ({release})", lambda: check_endpoints(get, namespace, release))
    results += guarded(f"operators ({release})", lambda: check_operator_objects(get, namespace, release, scope))
    if core is not None:
        name, port = core
        if scope.runs_containers:
            results += guarded(f"health {name}", lambda: [check_health(get, namespace, name, port, "/healthz/ready")])
        else:
            results.append(StepCheck(STEP, f"health {name}/healthz/ready", Status.SKIP, SIMULATED))
    results += guarded(
        f"disruption budgets ({release})", lambda: check_disruption_budgets(get, namespace, release, scope)
    )
    if application and not scope.metrics_api:
        results.append(
            StepCheck(
                STEP,
                f"autoscalers ({release})",
                Status.SKIP,
                "not checked: the cluster does not serve metrics.k8s.io, so no HPA can read CPU or memory",
            )
        )
    elif application:
        results += guarded(f"autoscalers ({release})", lambda: check_autoscalers(get, namespace, release))
        results += guarded(f"backups ({release})", lambda: check_backups(get, namespace, release, moment))
    return results
