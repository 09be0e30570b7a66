"""Kubernetes resource quantities (`500m`, `2Gi`, `1e3`) as exact numbers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """The quantity in base units (cores for CPU, bytes for memory); ValueError names the bad text."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 1Gi, 128974848, 1e3)")
    try:
        number = Decimal(match[1])
    except InvalidOperation as error:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from error
    if match[2]:
        return number * (Decimal(10) ** int(match[2][1:]))
    return number * _SUFFIXES[match[3] or ""]


def format_cpu(cores: Decimal) -> str:
    if cores == cores.to_integral_value():
        return f"{int(cores)}"
    return f"{int(cores * 1000)}m"


def format_bytes(size: Decimal) -> str:
    value = float(size)
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
        if abs(value) < 1024 or unit == "Pi":
            return f"{value:.0f}{unit}" if unit == "" or value == int(value) else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
