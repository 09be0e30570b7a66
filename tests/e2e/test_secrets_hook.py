"""The generated-secrets hook against a Kubernetes API emulator (kmock), driven through the real kubernetes
client over HTTP by the same command the hook Job runs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kmock as kmock_lib
import pytest

from archangel_helm.hooks.secrets import ALPHABETS, KeySpec, SecretSpec, ensure_secret
from archangel_helm.hooks.secretstore import MAX_ATTEMPTS, HookError
from tests.support.kube_emulator import KubeEmulator

SECRETS = kmock_lib.resource("", "v1", "secrets")
NAMESPACE = "archangel"
NAME = "archangel-generated"
SPEC: dict[str, Any] = {
    "secret": {
        "name": NAME,
        "labels": {"app.kubernetes.io/part-of": "archangel"},
        "annotations": {"helm.sh/resource-policy": "keep"},
    },
    "keys": [
        {"name": "database-password", "length": 32, "alphabet": "alphanumeric"},
        {"name": "qdrant-api-key", "length": 48, "alphabet": "urlsafe"},
        {"name": "backup-encryption-key", "length": 64, "alphabet": "urlsafe"},
        {"name": "backup-mac-key", "length": 64, "alphabet": "hex"},
    ],
}
HOOK = ("archangel_helm.hooks.secrets", "--namespace", NAMESPACE)


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


def stored(kube: KubeEmulator) -> dict[str, Any]:
    return dict(kube.server.objects[SECRETS, NAMESPACE, NAME].raw)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def test_first_run_creates_every_key(kube: KubeEmulator, spec_file: Path) -> None:
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert f"created secret {NAMESPACE}/{NAME}" in out
    secret = stored(kube)
    values = decoded(secret)
    assert set(values) == {"database-password", "qdrant-api-key", "backup-encryption-key", "backup-mac-key"}
    for key in SPEC["keys"]:
        value = values[key["name"]]
        assert len(value) == key["length"]
        assert set(value) <= set(ALPHABETS[key["alphabet"]])
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/part-of": "archangel"}
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert secret["type"] == "Opaque"
    for value in values.values():
        assert value not in out + err  # values are never printed


async def test_second_run_changes_nothing(kube: KubeEmulator, spec_file: Path) -> None:
    await kube.run(*HOOK, "--spec", str(spec_file))
    first = stored(kube)
    writes_before = len(kube.writes())
    code, out, _ = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0
    assert "nothing changed" in out
    assert stored(kube) == first
    assert len(kube.writes()) == writes_before


async def test_existing_keys_are_kept_byte_for_byte_and_only_missing_ones_added(
    kube: KubeEmulator, spec_file: Path
) -> None:
    binary = base64.b64encode(bytes(range(256))).decode()  # not even valid UTF-8: must survive untouched
    kube.server.objects[SECRETS, NAMESPACE, NAME] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "resourceVersion": "7"},
        "data": {"database-password": binary, "backup-mac-key": base64.b64encode(b"operator-chosen").decode()},
    }
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert "added keys qdrant-api-key, backup-encryption-key" in out
    data = stored(kube)["data"]
    assert data["database-password"] == binary
    assert base64.b64decode(data["backup-mac-key"]) == b"operator-chosen"
    assert set(data) == {"database-password", "qdrant-api-key", "backup-encryption-key", "backup-mac-key"}
    (patch,) = [r for r in kube.writes() if str(r.method).endswith("PATCH")]
    assert set(patch.data["data"]) == {"qdrant-api-key", "backup-encryption-key"}  # the request carried only those
    assert patch.data["metadata"] == {"resourceVersion": "7"}


async def test_losing_the_create_race_is_success(kube: KubeEmulator, spec_file: Path) -> None:
    winner = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "data": {"database-password": base64.b64encode(b"written-by-the-other-run").decode()},
    }
    reads: list[Any] = []

    def read_then_lose_the_race(request: Any) -> Any:
        # The first read sees no Secret; just after it, another run creates one, so our create gets 409.
        if not reads:
            reads.append(request)
            kube.server.objects[SECRETS, NAMESPACE, NAME] = winner
            raise kmock_lib.KubernetesObjectNotFoundError()
        raise kmock_lib.ReactionMismatchError()  # type: ignore[attr-defined]  # kmock exports it untyped

    kube.server["get", SECRETS] << read_then_lose_the_race
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    posts = [r for r in kube.writes() if str(r.method).endswith("POST")]
    assert len(posts) == 1
    values = decoded(stored(kube))
    assert values["database-password"] == "written-by-the-other-run"
    assert set(values) == {"database-password", "qdrant-api-key", "backup-encryption-key", "backup-mac-key"}
    assert "added keys" in out


async def test_forbidden_fails_clearly_and_writes_nothing(kube: KubeEmulator, spec_file: Path) -> None:
    kube.server["get", SECRETS] << kmock_lib.KubernetesError(
        status=403,
        reason="Forbidden",
        message=f'secrets "{NAME}" is forbidden: User "system:serviceaccount:{NAMESPACE}:hook" cannot get resource',
    )
    code, _, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 1
    assert f"forbidden to read secret {NAMESPACE}/{NAME}" in err
    assert "cannot get resource" in err
    assert "'get', 'patch' on the secret named archangel-generated" in err
    assert kube.writes() == []
    assert (SECRETS, NAMESPACE, NAME) not in kube.server.objects


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"secret": {"name": NAME}, "keys": []}, "keys must be a non-empty list"),
        ({"secret": {}, "keys": SPEC["keys"]}, "secret.name must be a non-empty string"),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "k", "length": 8, "alphabet": "hex"}]},
            "keys[0].length: 8 must be an integer",
        ),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "k", "length": 32, "alphabet": "emoji"}]},
            "keys[0].alphabet: 'emoji' must be one of",
        ),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "a b", "length": 32, "alphabet": "hex"}]},
            "keys[0].name: 'a b' is not a valid Secret key",
        ),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "caf\u00e9", "length": 32, "alphabet": "hex"}]},
            "keys[0].name: 'caf\u00e9' is not a valid Secret key",
        ),
        ({"secret": {"name": NAME}, "keys": SPEC["keys"], "extra": 1}, "unknown fields ['extra']"),
        ({"secret": {"name": NAME}, "keys": [{"name": "username", "value": ""}]}, "keys[0].value: '' must be a"),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "username", "value": "app", "length": 32}]},
            "keys[0]: unknown fields ['length']; a fixed key has name and value only",
        ),
        (
            {"secret": {"name": NAME}, "keys": [{"name": "k", "length": 32, "alphabet": "hex", "valu": "x"}]},
            "keys[0]: unknown fields ['valu']; a generated key has name, length, alphabet",
        ),
        ([], "expected a JSON object"),
    ],
)
async def test_a_malformed_spec_fails_before_any_request(
    kube: KubeEmulator, tmp_path: Path, document: Any, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    code, _, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 2
    assert "bad spec, nothing was written" in err
    assert message in err
    assert list(kube.server) == []


async def test_unreadable_json_is_a_spec_error(kube: KubeEmulator, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, _, err = await kube.run(*HOOK, "--spec", str(path))
    assert (code, "not valid JSON" in err) == (2, True)
    assert list(kube.server) == []


# The emulator applies a patch before any reaction sees it, so a conflicting patch is shown with a stand-in API.


class ConflictingApi:
    """Answers reads with a Secret and the first `conflicts` patches with 409, as a concurrent writer would."""

    def __init__(self, conflicts: int) -> None:
        from kubernetes.client import V1ObjectMeta, V1Secret

        self.secret = V1Secret(
            metadata=V1ObjectMeta(name=NAME, resource_version="1"), data={"database-password": "eA=="}
        )
        self.conflicts = conflicts
        self.patches: list[dict[str, Any]] = []

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        return self.secret

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        self.patches.append(body)
        if len(self.patches) <= self.conflicts:
            raise ApiException(status=409, reason="Conflict")


def test_a_conflicting_patch_is_retried_after_a_fresh_read() -> None:
    api = ConflictingApi(conflicts=2)
    spec = SecretSpec(NAME, (KeySpec("database-password", 32, "hex"), KeySpec("qdrant-api-key", 32, "hex")))
    outcome = ensure_secret(api, NAMESPACE, spec)
    assert outcome.added == ("qdrant-api-key",)
    assert len(api.patches) == 3
    assert all(p["metadata"] == {"resourceVersion": "1"} for p in api.patches)
    assert all(set(p["data"]) == {"qdrant-api-key"} for p in api.patches)


def test_endless_conflicts_give_up_with_a_message() -> None:
    api = ConflictingApi(conflicts=MAX_ATTEMPTS)
    with pytest.raises(HookError, match="kept changing under this hook"):
        ensure_secret(api, NAMESPACE, SecretSpec(NAME, (KeySpec("qdrant-api-key", 32, "hex"),)))


async def test_a_fixed_value_is_written_once_and_never_changed(kube: KubeEmulator, tmp_path: Path) -> None:
    # CloudNativePG reads the owner's name beside the password from the same Secret.
    path = tmp_path / "spec.json"
    keys: list[dict[str, Any]] = [
        {"name": "username", "value": "archangel"},
        {"name": "password", "length": 32, "alphabet": "alphanumeric"},
    ]
    path.write_text(json.dumps({"secret": {"name": NAME}, "keys": keys}))
    code, _, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 0, err
    first = decoded(stored(kube))
    assert first["username"] == "archangel"
    assert len(first["password"]) == 32
    keys[0]["value"] = "renamed"  # a later values change does not rewrite what the database was created with
    path.write_text(json.dumps({"secret": {"name": NAME}, "keys": keys}))
    code, out, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 0, err
    assert "nothing changed" in out
    assert decoded(stored(kube)) == first
