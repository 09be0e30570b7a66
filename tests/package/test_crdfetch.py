"""`archangel-helm crds fetch` against a local HTTP server standing in for raw.githubusercontent.com."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from archangel_helm.cli import main
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.crds import gomod
from archangel_helm.crds.fetch import SOURCES, fetch
from archangel_helm.validate import CrdSchemas
from tests.support.background import serving
from tests.support.project import PROJECT


def _crd(kind: str) -> dict[str, object]:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.lower()}s.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": kind},
            "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve every pinned source path with CRDs defining the kinds it is pinned for."""
    root = tmp_path / "upstream"
    for source in SOURCES:
        target = root / source.repository / source.commit / source.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all([_crd(kind) for kind in source.kinds]))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}", root


def test_fetch_writes_every_pinned_source_and_they_load(upstream: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = upstream
    written = fetch(tmp_path / "crds", base_url=base, log=lambda _: None)
    assert len(written) == len(SOURCES)
    store = CrdSchemas.from_directories(tmp_path / "crds")
    assert {kind for _, kind in store.schemas} == {kind for s in SOURCES for kind in s.kinds}


def test_fetch_refuses_a_file_that_lacks_the_pinned_kind(upstream: tuple[str, Path], tmp_path: Path) -> None:
    base, root = upstream
    first = SOURCES[0]
    (root / first.repository / first.commit / first.path).write_text(yaml.safe_dump(_crd("Other")))
    with pytest.raises(ConfigurationError, match=r"does not define \['ServiceMonitor'\]"):
        fetch(tmp_path / "crds", base_url=base, log=lambda _: None)


def test_fetch_without_network_explains_the_offline_alternative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "crds"
    assert main(["crds", "fetch", "--dir", str(target), "--base-url", "http://127.0.0.1:9"]) == 2
    assert "kubectl get crd -o yaml" in capsys.readouterr().err
    assert not target.exists()  # nothing half-written that a later run could take for CRD schemas


def test_a_fetch_that_fails_midway_writes_nothing(upstream: tuple[str, Path], tmp_path: Path) -> None:
    base, root = upstream
    last = SOURCES[-1]
    (root / last.repository / last.commit / last.path).unlink()
    with pytest.raises(ConfigurationError, match="could not download"):
        fetch(tmp_path / "crds", base_url=base, log=lambda _: None)
    assert not (tmp_path / "crds").exists()


def test_an_empty_fetch_directory_is_not_a_source_of_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archangel_helm.validate import default_crd_directories, holds_crd_files

    monkeypatch.delenv("ARCHANGEL_CRD_SCHEMAS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomod"))  # and no Go module's CRDs either
    (tmp_path / "archangel-helm" / "crds").mkdir(parents=True)
    assert default_crd_directories() == []
    (tmp_path / "archangel-helm" / "crds" / "x.yaml").write_text("kind: CustomResourceDefinition\n")
    assert default_crd_directories() == [tmp_path / "archangel-helm" / "crds"]
    assert holds_crd_files(tmp_path / "archangel-helm" / "crds")


def test_every_source_is_pinned_to_a_full_commit() -> None:
    for source in SOURCES:
        assert len(source.commit) == 40
        assert all(c in "0123456789abcdef" for c in source.commit)


SHARED_CRDS = PROJECT.parent / "shared" / "crds"


@pytest.mark.skipif(not SHARED_CRDS.is_dir(), reason="../shared/crds (the upstream manifests as test data) is absent")
def test_every_pinned_source_is_the_file_the_tests_install() -> None:
    """The download users get (`crds fetch`) is the set the local cluster installs in tests (../shared/crds and
    the Go modules' CRDs in Go's module cache): the same upstream file names, defining the same kinds."""
    shared = {p.name: p for d in [SHARED_CRDS, *gomod.directories()] for p in d.rglob("*.yaml")}
    for source in SOURCES:
        name = Path(source.path).name
        if name == "crd-all.gen.yaml":  # Istio: shared/crds has istio/api's copy of the same CRDs
            name = "customresourcedefinitions.gen.yaml"
        assert name in shared, f"{source.url()}: no {name} in {SHARED_CRDS}"
        text = shared[name].read_text()
        for kind in source.kinds:
            assert f"kind: {kind}\n" in text, f"{shared[name]} does not define {kind}"
