"""The assertion helm-unittest lacks: every document valid against the Kubernetes and CRD schemas."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from archangel_helm.testing.assertions._engine import Failure, run
from archangel_helm.testing.assertions._format import Document, Target

if TYPE_CHECKING:
    from archangel_helm.validate import SchemaValidator


def is_valid_schema(target: Target, validator: SchemaValidator | None = None, *, negate: bool = False) -> None:
    """Every document is valid against the Kubernetes (and CRD) schemas: the check helm-unittest lacks (#351).

    Without a validator, the newest Kubernetes schemas shipped and the CRD schemas found by
    `default_crd_directories` are used. With ``negate``, each document must have at least one problem.
    """
    __tracebackhide__ = True
    checker = validator or _default_validator()

    def check(obj: Document) -> list[Failure]:
        problems = checker.validate_object(dict(obj))
        if negate and not problems:
            return [Failure("(the object itself)", "at least one schema problem", "none: the object is valid")]
        if not negate and problems:
            found = "\n".join(f"{p.path or '(object)'}: {p.message}" for p in problems)
            return [Failure("(the object itself)", "no schema problems", f"{len(problems)} problems:\n{found}")]
        return []

    run("is_valid_schema(negate=True)" if negate else "is_valid_schema", target, check)


@lru_cache(maxsize=1)  # loading the CRD schemas takes a while; every call would load the same ones
def _default_validator() -> SchemaValidator:
    from archangel_helm.validate import CrdSchemas, SchemaValidator, default_crd_directories
    from archangel_helm.validate.kubernetes import shipped_versions

    existing = [d for d in default_crd_directories() if d.is_dir()]
    return SchemaValidator((shipped_versions()[-1],), CrdSchemas.from_directories(*existing))
