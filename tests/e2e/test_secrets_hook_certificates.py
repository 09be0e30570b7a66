"""The secrets hook's certificates (when no cert-manager makes them), with the spec the chart renders, against
the Kubernetes API emulator, by the command the hook Job runs: a CA and a server certificate per service,
made once; the CA never replaced; a server certificate reissued by the same CA only when it no longer serves."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kmock as kmock_lib
import pytest
from cryptography import x509

from archangel_helm import Manifest
from archangel_helm.hooks.certificates import (
    CaSpec,
    PemKeyPair,
    ServerCertificateSpec,
    issue_server_certificate,
    new_ca,
    server_secret_data,
)
from tests.support.kube_emulator import KubeEmulator

SECRETS = kmock_lib.resource("", "v1", "secrets")
NAMESPACE = "archangel-staging"
HOOK = ("archangel_helm.hooks.secrets", "--namespace", NAMESPACE)
CA, POSTGRESQL, QDRANT = "archangel-data-ca", "archangel-postgresql-tls", "archangel-qdrant-tls"


@pytest.fixture(scope="module")
def chart_spec(render_env: Callable[..., Manifest]) -> dict[str, Any]:
    """The hook's spec as staging renders it (builtin PostgreSQL and Qdrant, no cert-manager)."""
    manifest = render_env("staging", "archangel")
    spec: dict[str, Any] = json.loads(manifest.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    return spec


@pytest.fixture
def spec_file(chart_spec: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(chart_spec))
    return path


def secret(kube: KubeEmulator, name: str) -> dict[str, Any]:
    return dict(kube.server.objects[SECRETS, NAMESPACE, name].raw)


def decoded(kube: KubeEmulator, name: str) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret(kube, name)["data"].items()}


def server_spec(chart_spec: dict[str, Any], name: str) -> ServerCertificateSpec:
    (server,) = [s for s in chart_spec["certificates"]["servers"] if s["secret"] == name]
    return ServerCertificateSpec(
        server["secret"], server["commonName"], tuple(server["dnsNames"]), server["validityDays"], 180
    )


def certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def seed(kube: KubeEmulator, name: str, data: dict[str, str], secret_type: str = "Opaque") -> None:
    kube.server.objects[SECRETS, NAMESPACE, name] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": secret_type,
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "3"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


async def test_the_first_run_makes_a_ca_and_a_verifiable_certificate_per_server(
    kube: KubeEmulator, spec_file: Path, chart_spec: dict[str, Any]
) -> None:
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert f"created CA secret {NAMESPACE}/{CA}" in out
    ca = decoded(kube, CA)
    assert set(ca) == {"ca.crt", "ca.key"}
    authority = certificate(ca["ca.crt"])
    constraints = authority.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    for name in (POSTGRESQL, QDRANT):
        stored = secret(kube, name)
        assert stored["type"] == "kubernetes.io/tls"
        data = decoded(kube, name)
        assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
        assert data["ca.crt"] == ca["ca.crt"]
        leaf = certificate(data["tls.crt"])
        leaf.verify_directly_issued_by(authority)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == list(server_spec(chart_spec, name).dns_names)
        assert f"created server certificate {NAMESPACE}/{name}" in out
        assert data["tls.key"] not in out + err
        assert ca["ca.key"] not in out + err  # keys are never printed
    assert secret(kube, CA)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


async def test_a_second_run_changes_nothing(kube: KubeEmulator, spec_file: Path) -> None:
    await kube.run(*HOOK, "--spec", str(spec_file))
    before = {name: secret(kube, name) for name in (CA, POSTGRESQL, QDRANT)}
    writes = len(kube.writes())
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert f"kept CA secret {NAMESPACE}/{CA}" in out
    assert f"kept server certificate {NAMESPACE}/{POSTGRESQL}: valid and names every service" in out
    assert {name: secret(kube, name) for name in before} == before
    assert len(kube.writes()) == writes


async def test_a_certificate_near_its_end_is_reissued_by_the_same_ca(
    kube: KubeEmulator, spec_file: Path, chart_spec: dict[str, Any]
) -> None:
    ca_spec = CaSpec(CA, "archangel data-tier CA", 3650)
    now = datetime.datetime.now(datetime.UTC)
    authority = new_ca(ca_spec, now)
    seed(kube, CA, {"ca.crt": authority.certificate_pem, "ca.key": authority.key_pem})
    spec = server_spec(chart_spec, POSTGRESQL)
    # Issued 800 days ago for 825: 25 days left, inside the 180-day renewal window.
    old = issue_server_certificate(authority, spec, now - datetime.timedelta(days=800))
    seed(kube, POSTGRESQL, server_secret_data(old, authority), "kubernetes.io/tls")
    valid = issue_server_certificate(authority, server_spec(chart_spec, QDRANT), now)
    seed(kube, QDRANT, server_secret_data(valid, authority), "kubernetes.io/tls")
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert "reissued server certificate" in out
    assert "expires in 2" in out
    assert decoded(kube, CA) == {"ca.crt": authority.certificate_pem, "ca.key": authority.key_pem}
    renewed = decoded(kube, POSTGRESQL)
    assert renewed["tls.key"] != old.key_pem
    leaf = certificate(renewed["tls.crt"])
    leaf.verify_directly_issued_by(certificate(authority.certificate_pem))
    assert leaf.not_valid_after_utc - now > datetime.timedelta(days=800)
    assert decoded(kube, QDRANT)["tls.crt"] == valid.certificate_pem  # the valid one is kept
    (patch,) = [r for r in kube.writes() if str(r.method).endswith("PATCH")]
    assert patch.data["metadata"] == {"resourceVersion": "3"}  # a concurrent writer would make it retry


async def test_a_certificate_missing_a_name_is_reissued(
    kube: KubeEmulator, spec_file: Path, chart_spec: dict[str, Any]
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    authority = new_ca(CaSpec(CA, "archangel data-tier CA", 3650), now)
    seed(kube, CA, {"ca.crt": authority.certificate_pem, "ca.key": authority.key_pem})
    spec = server_spec(chart_spec, QDRANT)
    narrow = ServerCertificateSpec(spec.secret, spec.common_name, spec.dns_names[:1], 825, 180)
    seed(kube, QDRANT, server_secret_data(issue_server_certificate(authority, narrow, now), authority))
    code, out, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 0, err
    assert f"reissued server certificate {NAMESPACE}/{QDRANT} with the same CA: it does not name" in out
    leaf = certificate(decoded(kube, QDRANT)["tls.crt"])
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == list(spec.dns_names)


async def test_a_ca_secret_the_hook_did_not_make_is_never_overwritten(kube: KubeEmulator, spec_file: Path) -> None:
    authority: PemKeyPair = new_ca(CaSpec(CA, "someone else's", 30), datetime.datetime.now(datetime.UTC))
    seed(kube, CA, {"ca.crt": authority.certificate_pem})  # no key: not a CA this hook can sign with
    code, _, err = await kube.run(*HOOK, "--spec", str(spec_file))
    assert code == 1
    assert f"secret {CA} exists without ca.key" in err
    assert "never overwrites it" in err
    assert decoded(kube, CA) == {"ca.crt": authority.certificate_pem}
    assert (SECRETS, NAMESPACE, POSTGRESQL) not in kube.server.objects


async def test_a_bad_certificates_spec_fails_before_any_request(
    kube: KubeEmulator, chart_spec: dict[str, Any], tmp_path: Path
) -> None:
    broken = json.loads(json.dumps(chart_spec))
    broken["certificates"]["servers"][0]["renewBeforeDays"] = broken["certificates"]["servers"][0]["validityDays"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(broken))
    code, _, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 2
    assert "certificates.servers[0].renewBeforeDays" in err
    assert "nothing was written" in err
    assert not list(kube.server)


async def test_near_the_cas_end_certificates_are_not_reissued_at_every_run(
    kube: KubeEmulator, chart_spec: dict[str, Any], tmp_path: Path
) -> None:
    """A CA with less left than the renewal window: the server certificates end with it and cannot be given more
    by it, so a second run changes nothing (and the log warns, as a warning, about the CA)."""
    short = json.loads(json.dumps(chart_spec))
    short["certificates"]["ca"]["validityDays"] = 100  # renewBeforeDays is 180
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(short))
    code, _, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 0, err
    assert f"WARNING: secrets hook: the CA in {NAMESPACE}/{CA} expires on" in err  # stderr, a warning
    first = {name: secret(kube, name) for name in (POSTGRESQL, QDRANT)}
    writes = len(kube.writes())
    code, out, err = await kube.run(*HOOK, "--spec", str(path))
    assert code == 0, err
    assert {name: secret(kube, name) for name in first} == first
    assert len(kube.writes()) == writes
    assert "reissued" not in out
