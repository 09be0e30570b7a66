"""Chart assertions: helm-unittest's vocabulary in Python, for pytest.

Every assertion takes a *target* first: a `Manifest`, a `Documents` selection (see `select`), one object (a
mapping) or a list of objects. It applies to each document of the target, and raises AssertionError naming
every document that failed, the path, what was expected and what was there::

    from archangel_helm.testing import assertions as a

    manifest = render("charts/archangel", ["values/production.yaml"])
    core = a.select(manifest, kind="Deployment", name="archangel-core")
    a.equal(core, "spec.template.spec.containers[0].image", "ghcr.io/archangel-ai/archangel-core:1.4.2")
    a.greater_or_equal(core, "spec.template.spec.containers[*].resources.limits.memory", "512Mi")
    a.exists(a.select(manifest, kind="Deployment"), "spec.template.spec.hostNetwork", negate=True)

One negation style: every assertion with an opposite takes ``negate=True`` (helm-unittest's ``not: true``);
there are no ``not_*`` twins. A render that must succeed is `renders` (helm-unittest's notFailedTemplate).

Paths are described in `archangel_helm.core.paths`. A path that does not resolve fails every value assertion
(either polarity) with the segment that failed and what was there; assert absence with
``exists(..., negate=True)``. Usage mistakes (a bad path, regex or type name) raise ValueError at once, not
AssertionError.

The modules, by concern: `selection` (which documents), `documents` (which documents there are), `values`
(values at paths), `rendering` (the render fails or succeeds), `schema` (Kubernetes and CRD schemas) and
`snapshots`.
"""

from __future__ import annotations

from archangel_helm.core.paths import value_at
from archangel_helm.testing.assertions.documents import contains_document, has_documents, is_api_version, is_kind
from archangel_helm.testing.assertions.rendering import RenderAttempt, failed_template, failed_values_schema, renders
from archangel_helm.testing.assertions.schema import is_valid_schema
from archangel_helm.testing.assertions.selection import Documents, documents, one, select
from archangel_helm.testing.assertions.snapshots import UPDATE_SNAPSHOTS_ENV, Snapshot, match_snapshot
from archangel_helm.testing.assertions.values import (
    contains,
    equal,
    exists,
    greater_or_equal,
    is_null_or_empty,
    is_subset,
    is_type,
    length_equal,
    less_or_equal,
    match_regex,
)

__all__ = [
    "UPDATE_SNAPSHOTS_ENV",
    "Documents",
    "RenderAttempt",
    "Snapshot",
    "contains",
    "contains_document",
    "documents",
    "equal",
    "exists",
    "failed_template",
    "failed_values_schema",
    "greater_or_equal",
    "has_documents",
    "is_api_version",
    "is_kind",
    "is_null_or_empty",
    "is_subset",
    "is_type",
    "is_valid_schema",
    "length_equal",
    "less_or_equal",
    "match_regex",
    "match_snapshot",
    "one",
    "renders",
    "select",
    "value_at",
]
