"""Render a chart with `helm template` and return its objects, cached on everything that shapes the output.

Rendering runs the helm binary itself, not pyhelm3 (which deploy uses to install): pyhelm3's template call has
no --kube-version, --api-versions, --show-only or --set-string/--set-json/--set-file, and a render for a chart
test must say which cluster it renders for. Installs and hook results go through pyhelm3's typed API
(operate/deploy.py; typings/pyhelm3 keeps mypy on those calls).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from archangel_helm.core import yamlio
from archangel_helm.core.chart import Chart
from archangel_helm.core.errors import ConfigurationError, RenderError
from archangel_helm.core.helm import Helm, find_helm
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.render_cache import RenderCache, default_cache_dir

# What `kube_version=None` renders for. Helm's own default is the client-go it was built with (Helm 3.14: 1.29,
# below the charts' kubeVersion; Helm 4.3: 1.37), so leaving it to helm would make one call succeed on Helm 4
# and fail on Helm 3. Pinned to the newest Kubernetes the offline schemas cover; tests keep the two in step.
DEFAULT_KUBE_VERSION = "1.37.0"

_default_cache: RenderCache | None = None


def default_cache() -> RenderCache:
    """The process-wide cache (memory + the shared disk directory)."""
    global _default_cache  # noqa: PLW0603 - a cache is the one module-level state allowed
    if _default_cache is None:
        _default_cache = RenderCache()
    return _default_cache


def render(  # noqa: PLR0917 - the documented signature: render(chart, values_files, set_values, ...)
    chart: str | os.PathLike[str],
    values_files: Sequence[str | os.PathLike[str]] = (),
    set_values: Mapping[str, Any] | None = None,
    release: str = "archangel",
    namespace: str = "archangel",
    kube_version: str | None = None,
    api_versions: Iterable[str] = (),
    *,
    is_upgrade: bool = False,
    include_crds: bool = False,
    helm: Helm | None = None,
    cache: RenderCache | bool | None = True,
    set_flags: Sequence[tuple[str, str]] = (),
    show_only: Sequence[str] = (),
    chart_version: str | None = None,
    app_version: str | None = None,
) -> Manifest:
    """Run `helm template` and parse the result.

    ``set_values`` is merged over the values files; a key may be a dotted path (``{"core.replicas": 2}``),
    and a nested mapping sets keys that contain dots (``{"ingress": {"annotations": {"a.b/c": "x"}}}``).
    ``set_flags`` are Helm's own flags, (flag, argument) in command-line order: ("--set", "a.b=1.10"),
    ("--set-string", ...), ("--set-json", ...), ("--set-file", "key=path"); Helm parses them (so `--set x=1.10`
    is the string "1.10", as `helm template` makes it) and applies them over the files and ``set_values``.
    ``show_only`` renders only those templates (helm's --show-only, helm-unittest's `templates:`), paths as
    "templates/core/deployment.yaml". ``chart_version`` and ``app_version`` render the chart as if its Chart.yaml
    said so (helm-unittest's suite `chart: {version, appVersion}`): a copy of the chart with them is rendered.
    ``kube_version=None`` renders for DEFAULT_KUBE_VERSION whatever helm's built-in default is, so a render
    reads the same under Helm 3 and Helm 4.
    Raises RenderError with helm's message when the chart fails to render (a `fail`, a schema violation).
    """
    helm = helm or find_helm()
    chart_obj = Chart.load(chart)
    if chart_version is not None or app_version is not None:
        chart_obj = _with_versions(chart_obj, chart_version, app_version)
    files = [Path(f).resolve() for f in values_files]
    for file in files:
        if not file.is_file():
            raise ConfigurationError(f"values file {file} does not exist")
    overrides = expand_dotted(set_values or {})
    args = ["template", release, str(chart_obj.path), "--namespace", namespace]
    for file in files:
        args += ["--values", str(file)]
    if overrides:
        args += ["--values", "-"]  # JSON is YAML; stdin keeps types exact, unlike --set
    set_files = _check_set_flags(set_flags)
    for flag, argument in set_flags:
        args += [flag, argument]
    args += ["--kube-version", kube_version or DEFAULT_KUBE_VERSION]
    for api_version in sorted(set(api_versions)):
        args += ["--api-versions", api_version]
    if is_upgrade:
        args.append("--is-upgrade")
    if include_crds:
        args.append("--include-crds")
    for template in show_only:
        args += ["--show-only", template]
    stdin = json.dumps(overrides, sort_keys=True) if overrides else None

    def run_helm() -> dict[str, Any]:
        result = helm.run(args, stdin=stdin)
        return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}

    chosen_cache = _choose_cache(cache)
    if chosen_cache is None:
        record = run_helm()
    else:
        key = _cache_key(chart_obj, [*files, *set_files], stdin, args, helm)
        record = chosen_cache.get_or_compute(key, run_helm)
    if record["returncode"] != 0:
        raise RenderError(str(chart_obj.path), [helm.executable, *args], record["returncode"], record["stderr"])
    return Manifest.parse(record["stdout"])


def _with_versions(chart: Chart, version: str | None, app_version: str | None) -> Chart:
    """A copy of the chart whose Chart.yaml carries these versions, made once per chart content and versions
    (a rename makes it appear whole, so parallel workers never see half a copy)."""
    import shutil
    import tempfile

    metadata = yamlio.load((chart.path / "Chart.yaml").read_text())
    if version is not None:
        metadata["version"] = version
    if app_version is not None:
        metadata["appVersion"] = app_version
    key = hashlib.sha256(f"{chart.content_hash()}\0{version}\0{app_version}".encode()).hexdigest()[:24]
    base = default_cache_dir() / "charts"  # the user's own cache, not a directory every user of /tmp shares
    target = base / key / chart.path.name
    if not target.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=base))
        copy = staging / chart.path.name
        shutil.copytree(chart.path, copy)
        (copy / "Chart.yaml").write_text(yamlio.dump(metadata))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            copy.rename(target)
        except OSError:
            if not target.is_dir():  # another worker made it first: theirs is the same
                raise
        shutil.rmtree(staging, ignore_errors=True)
    return Chart.load(target)


HELM_SET_FLAGS = ("--set", "--set-string", "--set-json", "--set-file")


def _check_set_flags(set_flags: Sequence[tuple[str, str]]) -> list[Path]:
    """Refuse what Helm would refuse less clearly; the files of --set-file (their contents key the cache)."""
    files = []
    for flag, argument in set_flags:
        if flag not in HELM_SET_FLAGS:
            raise ConfigurationError(f"{flag}: not one of Helm's {', '.join(HELM_SET_FLAGS)}")
        if "=" not in argument or argument.startswith("="):
            raise ConfigurationError(f"{flag} {argument!r}: expected PATH=VALUE")
        if flag == "--set-file":
            for pair in argument.split(","):
                path = Path(pair.partition("=")[2])
                if not path.is_file():
                    raise ConfigurationError(f"--set-file {pair!r}: {path} is not a file")
                files.append(path.resolve())
    return files


def _choose_cache(cache: RenderCache | bool | None) -> RenderCache | None:
    if cache is True:
        return default_cache()
    if cache is False or cache is None:
        return None
    return cache


def _cache_key(chart: Chart, files: list[Path], stdin: str | None, args: list[str], helm: Helm) -> str:
    digest = hashlib.sha256()
    for part in (chart.content_hash(), helm.executable, helm.build, json.dumps(args), stdin or ""):
        digest.update(part.encode() + b"\0")
    for file in files:
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def expand_dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": 1, "c": {"d.e": 2}} -> {"a": {"b": 1}, "c": {"d.e": 2}} (only top-level keys are split)."""
    result: dict[str, Any] = {}
    for dotted, value in values.items():
        parts = dotted.split(".")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigurationError(f"set_values: {dotted!r} sets a key below {part!r}, which is already a value")
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf] = deep_merge(node[leaf], value)
        else:
            node[leaf] = value
    return result


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """override over base, nested mappings merged key by key (as Helm layers two values files)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
