"""How Argo CD will treat a rendered release: Helm hooks mapped to sync phases, and sync waves.

Argo CD renders charts with `helm template` and runs Helm hooks itself, mapped as its documentation
(docs/user-guide/helm.md) says. One `argocd.argoproj.io/hook` annotation anywhere makes it ignore every Helm
hook in the chart, which this report flags. `helm test` hooks are Helm's alone: Argo CD skips them by design,
and the report marks them as such rather than as hooks that fail to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from archangel_helm.core.manifest import Manifest, annotations_of, name_of

HELM_TO_ARGO: dict[str, str | None] = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
    "pre-delete": "PreDelete",
    "post-delete": "PostDelete",
    "pre-rollback": None,  # Argo CD has no rollback hooks
    "post-rollback": None,
    "test": None,  # helm test hooks are skipped
    "test-success": None,
    "test-failure": None,
}
# Events only `helm test` runs. Helm 2's test-success and test-failure are not included: they stay reported as
# hooks Argo CD never runs, so charts move to `test`.
HELM_TEST_EVENTS = frozenset({"test"})


@dataclass(frozen=True)
class HookInfo:
    kind: str
    name: str
    helm_events: tuple[str, ...]
    weight: int
    delete_policy: tuple[str, ...]
    argo_phases: tuple[str, ...]  # what Argo CD runs it as; empty when Argo CD skips it
    ignored_by_argo: bool  # an Argo CD hook annotation elsewhere disables Helm hook mapping
    helm_test_only: bool = False  # a `helm test` hook: Argo CD skips it by design, nothing is lost

    def __str__(self) -> str:
        phases = ", ".join(self.argo_phases) or "skipped by Argo CD"
        if self.helm_test_only:
            phases = "skipped by design (helm test only)"
        elif self.ignored_by_argo:
            phases = "IGNORED: the chart also has argocd.argoproj.io/hook annotations"
        return (
            f"{self.kind}/{self.name}: helm {','.join(self.helm_events)} (weight {self.weight}, "
            f"delete {','.join(self.delete_policy) or 'never'}) -> Argo CD {phases}"
        )


def hook_report(manifest: Manifest) -> list[HookInfo]:
    argo_hooks_present = any("argocd.argoproj.io/hook" in annotations_of(o) for o in manifest)
    report = []
    for obj in manifest.hooks():
        annotations = annotations_of(obj)
        events = tuple(e.strip() for e in annotations["helm.sh/hook"].split(",") if e.strip())
        phases = tuple(dict.fromkeys(p for e in events if (p := HELM_TO_ARGO.get(e))))
        policy = tuple(p.strip() for p in annotations.get("helm.sh/hook-delete-policy", "").split(",") if p.strip())
        report.append(
            HookInfo(
                str(obj["kind"]),
                name_of(obj),
                events,
                int(annotations.get("helm.sh/hook-weight", "0")),
                policy,
                phases,
                argo_hooks_present,
                helm_test_only=bool(events) and set(events) <= HELM_TEST_EVENTS,
            )
        )
    return sorted(report, key=lambda h: (h.argo_phases, h.weight, h.kind, h.name))


def sync_waves(manifest: Manifest) -> dict[tuple[str, str], int]:
    """Every non-hook object's Argo CD sync wave (0 when unannotated)."""
    return {
        (str(obj["kind"]), name_of(obj)): int(annotations_of(obj).get("argocd.argoproj.io/sync-wave", "0"))
        for obj in manifest
        if "helm.sh/hook" not in annotations_of(obj)
    }
