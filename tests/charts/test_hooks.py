"""The generated-secrets hook: what it runs, when, with which permissions, and how Argo CD sees it.

Production also has the backup configuration check hook (tests/charts/test_backup_chart.py covers it) and the
helm test pod (tests/charts/test_helm_tests.py); the tests here pick the secrets hook's objects out by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import annotations_of
from archangel_helm.validate.argo_hooks import hook_report
from archangel_helm.validate.pod_security import check_pod_security
from tests.charts.test_data_tier import BUILTIN

RenderEnv = Callable[..., Manifest]
HOOK_OBJECTS = {
    ("ServiceAccount", "archangel-secrets-hook"),
    ("Role", "archangel-secrets-hook"),
    ("RoleBinding", "archangel-secrets-hook"),
    ("ConfigMap", "archangel-secrets-hook"),
    ("Job", "archangel-secrets-hook"),
}


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def secrets_hook(manifest: Manifest) -> list[dict[str, Any]]:
    return [o for o in manifest.hooks() if o["metadata"]["name"] == "archangel-secrets-hook"]


def test_the_hooks_are_the_secrets_hook_the_backup_check_and_the_helm_test(production: Manifest) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in production.hooks()}
    assert names == HOOK_OBJECTS | {("Job", "archangel-backup-check"), ("Pod", "archangel-helm-test")}


def test_the_hook_and_its_rbac_are_pre_install_pre_upgrade_hooks(production: Manifest) -> None:
    hooks = {(o["kind"], o["metadata"]["name"]): annotations_of(o) for o in secrets_hook(production)}
    assert set(hooks) == HOOK_OBJECTS
    for (kind, _), hook_annotations in hooks.items():
        assert hook_annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert hook_annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert hook_annotations["helm.sh/hook-weight"] == ("-10" if kind == "Job" else "-20")
        assert not any(key.startswith("argocd.argoproj.io/hook") for key in hook_annotations)


def test_argo_cd_runs_the_hook_as_presync_after_its_rbac(production: Manifest) -> None:
    report = [h for h in hook_report(production) if h.name == "archangel-secrets-hook"]
    assert all(h.argo_phases == ("PreSync",) and not h.ignored_by_argo for h in report)
    assert [h.kind for h in report][-1] == "Job"  # the highest weight runs last
    assert "Job/archangel-secrets-hook: helm pre-install,pre-upgrade (weight -10" in str(report[-1])


def test_the_role_creates_secrets_and_reads_or_patches_only_the_generated_one(production: Manifest) -> None:
    rules = production.get("Role", "archangel-secrets-hook")["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["archangel-generated"],
            "verbs": ["get", "patch"],
        },
    ]
    binding = production.get("RoleBinding", "archangel-secrets-hook")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "archangel-secrets-hook",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "archangel-secrets-hook", "namespace": "archangel"}
    ]
    assert production.of_kind("ClusterRole") == []


def test_the_job_runs_the_package_entry_point_with_the_rendered_spec(production: Manifest) -> None:
    job = production.get("Job", "archangel-secrets-hook")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "archangel_helm.hooks.secrets"]
    assert container["args"] == ["--spec", "/etc/archangel/secrets/spec.json"]
    assert container["image"].split("@")[0] == "ghcr.io/archangel-ai/archangel-tools:0.1.0"
    assert pod["serviceAccountName"] == "archangel-secrets-hook"
    assert pod["automountServiceAccountToken"] is True
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] == 300
    (volume,) = [v for v in pod["volumes"] if v["name"] == "spec"]
    assert volume["configMap"]["name"] == "archangel-secrets-hook"


def test_the_hook_pod_meets_pod_security_restricted(production: Manifest) -> None:
    (template,) = [t for t in production.pod_templates() if t.ref == "Job/archangel-secrets-hook"]
    assert check_pod_security(template) == []


@pytest.mark.parametrize(
    ("mode", "database_keys"),
    [
        # production: CloudNativePG bootstraps the owner from the keys username (a fixed value) and password
        ("cloudnativepg", {"username": "archangel", "password": (32, "alphanumeric")}),
        ("builtin", {"database-password": (32, "alphanumeric")}),
    ],
)
def test_the_spec_lists_every_key_with_length_and_alphabet(
    production: Manifest, render_env: RenderEnv, mode: str, database_keys: dict[str, object]
) -> None:
    manifest = production if mode == "cloudnativepg" else render_env("production", "archangel", BUILTIN)
    spec = json.loads(manifest.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    assert spec["secret"]["name"] == "archangel-generated"
    assert {k["name"]: k["value"] if "value" in k else (k["length"], k["alphabet"]) for k in spec["keys"]} == {
        **database_keys,
        "qdrant-api-key": (48, "urlsafe"),
        "backup-encryption-key": (64, "urlsafe"),
        "backup-mac-key": (64, "hex"),
    }
    # No instance label: Argo CD label tracking would otherwise prune the Secret it does not render.
    assert "app.kubernetes.io/instance" not in spec["secret"]["labels"]
    assert spec["secret"]["annotations"]["argocd.argoproj.io/compare-options"] == "IgnoreExtraneous"
    assert spec["secret"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_generated_secret_itself_is_never_rendered(production: Manifest) -> None:
    assert production.of_kind("Secret") == []


def test_no_hook_when_every_secret_is_supplied(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "database.auth.existingSecret": "pg",
            "vectorStore.auth.existingSecret": "q",
            "backup.encryption.existingSecret": "b",
        },
    )
    assert secrets_hook(manifest) == []


def test_disabling_generation_with_secrets_missing_is_refused(render_env: RenderEnv) -> None:
    from archangel_helm import RenderError

    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", {"secrets.generate.enabled": False, "database.auth.existingSecret": "pg"})
    assert (
        "secrets.generate.enabled is false but no existingSecret provides qdrant-api-key, backup-encryption-key, backup-mac-key"
        in caught.value.helm_message
    )
