"""Stable cache keys: canonical JSON + SHA-256, equal across processes and ``PYTHONHASHSEED`` values.

``hash()`` of a ``str`` changes from one process to the next, so a key built from it
cannot be shared with a second-level cache or another worker. :func:`stable_key`
encodes its arguments as canonical JSON and hashes that text::

    >>> from agentotel import stable_key
    >>> stable_key("summarise", {"model": "gpt-4o", "temperature": 0.0})  # the same in every process
    '3f50583b709fb2aba7d8b64e4a59e2e5f638f93f888c4ede23df9badcf2b3aff'

Canonical means: dict keys sorted, sets and frozensets sorted by their elements'
encodings, tuples and lists alike (both become JSON arrays), ``-0.0`` equal to ``0.0``,
and values JSON has no type for tagged so they cannot collide with plain strings:
``bytes`` (base64), ``float`` nan/inf, ``Decimal``, ``datetime``/``date``/``time``/
``timedelta``, ``UUID``, paths, enums (class + value), dataclasses (class + fields),
pydantic models (class + ``model_dump()``) and mappings with non-string keys.
Anything else raises a :class:`TypeError` naming the type and where it was found.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import enum
import hashlib
import json
import math
import pathlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, cast

__all__ = ["canonical_json", "stable_key"]

# Tags start with NUL; user dict keys that do are escaped with one more NUL, so a
# user mapping can never look like a tagged value.
_TAG: Final = "\x00"


def stable_key(*parts: Any, **named: Any) -> str:
    """A 64-hex-digit SHA-256 key for ``parts`` and ``named``, the same in every process.

    Raises :class:`TypeError` for values it cannot encode deterministically
    (e.g. arbitrary objects, whose ``repr`` may contain a memory address).
    """
    text = canonical_json([list(parts), named])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """The canonical JSON text that :func:`stable_key` hashes."""
    return _dumps(_encode(value, "$", set()))


def _dumps(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _tagged(tag: str, payload: Any) -> dict[str, Any]:
    return {_TAG + tag: payload}


def _encode(value: object, path: str, active: set[int]) -> Any:
    # Exact-type fast paths first: these are by far the most common key parts.
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return _encode_float(cast(float, value))
    if isinstance(value, enum.Enum):  # before int/str: IntEnum and StrEnum are both
        return _tagged("enum", [_qualname(kind), _encode(value.value, f"{path}.value", active)])
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _encode_float(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = cast("bytes | bytearray | memoryview[int]", value)
        return _tagged("bytes", base64.b64encode(bytes(raw)).decode("ascii"))
    if isinstance(value, decimal.Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, _dt.datetime):  # before date: datetime is a date
        return _tagged("datetime", value.isoformat())
    if isinstance(value, _dt.date):
        return _tagged("date", value.isoformat())
    if isinstance(value, _dt.time):
        return _tagged("time", value.isoformat())
    if isinstance(value, _dt.timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, pathlib.PurePath):
        return _tagged("path", value.as_posix())
    return _encode_container(value, path, active)


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return 0.0 if value == 0.0 else value  # -0.0 == 0.0, so both get one key
    return _tagged("float", "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))


def _encode_container(value: object, path: str, active: set[int]) -> Any:
    marker = id(value)
    if marker in active:
        raise TypeError(f"stable_key: circular reference at {path}")
    active.add(marker)
    try:
        return _encode_compound(value, path, active)
    finally:
        active.discard(marker)


def _encode_compound(value: object, path: str, active: set[int]) -> Any:
    if isinstance(value, (list, tuple)):
        sequence = cast("Sequence[object]", value)
        return [_encode(item, f"{path}[{i}]", active) for i, item in enumerate(sequence)]
    if isinstance(value, (set, frozenset)):
        members = cast("Iterable[object]", value)
        items = [_encode(item, f"{path}{{}}", active) for item in members]
        return _tagged("set", sorted(items, key=_dumps))
    if isinstance(value, Mapping):
        return _encode_mapping(cast("Mapping[object, object]", value), path, active)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name), f"{path}.{f.name}", active) for f in dataclasses.fields(value)
        }
        return _tagged("dataclass", [_qualname(type(value)), fields])
    model_dump = getattr(value, "model_dump", None)
    kind = type(value)
    if model_dump is not None and hasattr(kind, "model_fields"):  # pydantic v2 model
        return _tagged("model", [_qualname(kind), _encode(model_dump(), f"{path}.model_dump()", active)])
    raise TypeError(
        f"stable_key: cannot encode {type(value).__module__}.{type(value).__qualname__} at {path}; "
        "use str, int, float, bool, None, bytes, Decimal, datetime/date/time/timedelta, UUID, paths, "
        "enums, lists/tuples, sets, dicts, dataclasses or pydantic models, or pass key= to build the key"
    )


def _encode_mapping(value: Mapping[Any, Any], path: str, active: set[int]) -> Any:
    if all(type(k) is str for k in value):
        return {(_TAG + k if k.startswith(_TAG) else k): _encode(v, f"{path}[{k!r}]", active) for k, v in value.items()}
    pairs = [[_encode(k, f"{path}<key>", active), _encode(v, f"{path}[{k!r}]", active)] for k, v in value.items()]
    return _tagged("map", sorted(pairs, key=lambda pair: _dumps(pair[0])))
