"""One release's inputs, the one way to render or install it: the chart, its values files in order (later files
win, as `helm -f a -f b` layers them), Helm's --set flags, and the release, namespace and cluster it renders for.

`plan`, `check`, the goldens, `deploy`, preflight, the pytest plugin and the tests all build a `ReleaseInputs`
(from an environment's release, a shipped values file, or the command line) and render, install or read values
through it, so what is validated is what is installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.values_layering import layered_values, merged_values

if TYPE_CHECKING:
    from archangel_helm.core.helm import Helm
    from archangel_helm.core.manifest import Manifest
    from archangel_helm.core.render_cache import RenderCache

DEFAULT_RELEASE = "archangel"
DEFAULT_NAMESPACE = "archangel"


@dataclass(frozen=True)
class ReleaseInputs:
    chart: Path
    values_files: tuple[Path, ...] = ()
    release: str = DEFAULT_RELEASE
    namespace: str = DEFAULT_NAMESPACE
    # The cluster rendered for: None renders for render.DEFAULT_KUBE_VERSION; api_versions gate optional objects.
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    set_flags: tuple[tuple[str, str], ...] = ()  # ("--set" | "--set-string" | "--set-json" | "--set-file", "a=b")

    def with_values(self, *files: str | Path) -> ReleaseInputs:
        """The same release with more values files after its own (they win, as a later -f does)."""
        return replace(self, values_files=(*self.values_files, *map(Path, files)))

    def on_cluster(self, kube_version: str | None, api_versions: Iterable[str]) -> ReleaseInputs:
        """The same release rendered for a cluster of this version serving these APIs (deploy's discovery)."""
        return replace(self, kube_version=kube_version, api_versions=tuple(api_versions))

    def render(
        self,
        set_values: Mapping[str, Any] | None = None,
        *,
        helm: Helm | None = None,
        cache: RenderCache | bool | None = True,
        **options: Any,
    ) -> Manifest:
        """`helm template` with these inputs. An option naming an input (release=, kube_version=, ...) overrides
        it for this render; the others are render()'s own (show_only=, is_upgrade=, chart_version=, ...)."""
        from archangel_helm.core.render import render  # the helm machinery, only when a render is asked for

        overrides = {key: options.pop(key) for key in list(options) if key in _FIELDS}
        inputs = replace(self, **overrides) if overrides else self
        return render(
            inputs.chart,
            inputs.values_files,
            set_values,
            release=inputs.release,
            namespace=inputs.namespace,
            kube_version=inputs.kube_version,
            api_versions=tuple(inputs.api_versions),
            helm=helm,
            cache=cache,
            set_flags=tuple(inputs.set_flags),
            **options,
        )

    def values_args(self) -> list[str]:
        """The values as helm's command line takes them: ``-f`` per file in order, then the --set flags."""
        files = [arg for file in self.values_files for arg in ("-f", str(file))]
        return files + [arg for flag, value in self.set_flags for arg in (flag, value)]

    def values(self) -> dict[str, Any]:
        """The values files layered as Helm layers them: the one document deploy hands Helm (pyhelm3 takes a
        mapping, not files). --set flags are Helm's own syntax and are not re-implemented here."""
        self._refuse_set_flags("the values document")
        return layered_values(self.values_files)

    def merged_values(self) -> dict[str, Any]:
        """What the templates see: the layered values over the chart's values.yaml."""
        self._refuse_set_flags("the merged values")
        return merged_values(self.chart, self.values_files)

    def _refuse_set_flags(self, what: str) -> None:
        if self.set_flags:
            flags = ", ".join(f"{flag} {value}" for flag, value in self.set_flags)
            raise ConfigurationError(f"{what} of release {self.release!r} cannot include {flags}: use a values file")


_FIELDS = frozenset(field.name for field in fields(ReleaseInputs))
