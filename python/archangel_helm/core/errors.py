"""Exceptions raised by archangel_helm. Each message names the input and what was expected."""

from __future__ import annotations

from archangel_helm.core.schema_refusals import ValuesViolation, values_violations


class ArchangelHelmError(Exception):
    """Base class: every error this package raises on purpose."""


class HelmNotFoundError(ArchangelHelmError):
    """No usable helm binary (missing, or older than the supported minimum)."""


class RenderError(ArchangelHelmError):
    """`helm template` failed; carries helm's own message."""

    def __init__(self, chart: str, command: list[str], returncode: int, stderr: str) -> None:
        self.chart = chart
        self.command = command
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"helm template of {chart} failed (exit {returncode}):\n{self.helm_message}")

    def __reduce__(self) -> tuple[type[RenderError], tuple[str, list[str], int, str]]:
        # Exception pickles self.args (the one message) and would call __init__ with it: a render failing in a
        # multiprocessing or xdist worker must arrive whole, not as a TypeError that hangs Pool.map.
        return (type(self), (self.chart, self.command, self.returncode, self.stderr))

    @property
    def values_violations(self) -> tuple[ValuesViolation, ...]:
        """The values.schema.json refusals in helm's message, read the same on Helm 3 and 4 (empty if none)."""
        return values_violations(self.helm_message)

    @property
    def helm_message(self) -> str:
        """helm's error text without Helm 4's slog prefixes, so it reads the same on Helm 3 and 4."""
        lines = []
        for line in self.stderr.splitlines():
            if line.startswith("level=WARN"):
                continue
            lines.append(line)
        return "\n".join(lines).strip()


class ReleaseRenderErrors(ArchangelHelmError):
    """Several releases of an environment failed to render; each keeps helm's own message."""

    def __init__(self, environment: str, failures: dict[str, RenderError]) -> None:
        self.failures = failures
        parts = [f"{release}: {error.helm_message}" for release, error in failures.items()]
        super().__init__(f"{len(failures)} release(s) of {environment} failed to render:\n" + "\n\n".join(parts))


class ObjectNotFoundError(ArchangelHelmError, KeyError, AssertionError):
    """A (kind, name) asked of a Manifest that it does not contain. An AssertionError too: in a test, asking for
    an object the chart did not render is a failed expectation, reported as one, not an error of the test."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ConfigurationError(ArchangelHelmError):
    """Bad input to the package or the CLI (file, environment, argument)."""


class SchemaNotFoundError(ArchangelHelmError):
    """No schema is known for an apiVersion/kind: never a silent pass."""
