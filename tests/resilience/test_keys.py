"""stable_key: canonical JSON + SHA-256.

Guards against cache keys built with ``hash()``, which differ from one process (and
``PYTHONHASHSEED``) to the next -> test_keys_are_equal_across_processes_and_hash_seeds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import pathlib
import subprocess
import sys
import uuid

import pydantic
import pytest

from agentotel import stable_key
from agentotel.resilience.keys import canonical_json


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Query:
    region: str
    years: tuple[int, ...]


class Prompt(pydantic.BaseModel):
    text: str
    temperature: float = 0.0


SAMPLE = {
    "text": "landuse of Ghent",
    "tags": {"b", "a", "c"},
    "frozen": frozenset({3, 1, 2}),
    "tuple": (1, 2.5, None, True),
    "nested": {"z": [1, {"y": b"\x00\xff"}], "a": Color.RED},
    "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc),
    "day": dt.date(2024, 5, 1),
    "span": dt.timedelta(hours=1),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "price": decimal.Decimal("12.50"),
    "floats": [float("nan"), float("inf"), float("-inf"), -0.0],
    "path": pathlib.PurePosixPath("/data/landuse.duckdb"),
    "int_keys": {2: "b", 1: "a"},
    "level": Level.LOW,
}

# Classes are part of a key (module + qualname), so the child imports this module
# under the same name pytest gave it.
SCRIPT = """
import importlib, json, sys
sys.path[:0] = {paths!r}
sample = importlib.import_module({module!r})
from agentotel import stable_key
print(json.dumps([
    stable_key(sample.SAMPLE),
    stable_key(sample.Query("north", (2020, 2021)), prompt=sample.Prompt(text="hi")),
    hash("landuse of Ghent"),
]))
"""


def _run_with_seed(seed: str) -> list:
    here = pathlib.Path(__file__).resolve()
    root = here.parents[2]
    code = SCRIPT.format(paths=[str(here.parent), str(root), str(root / "src")], module=__name__)
    env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_keys_are_equal_across_processes_and_hash_seeds() -> None:
    runs = [_run_with_seed(seed) for seed in ("0", "1", "4242")]
    keys = {tuple(run[:2]) for run in runs}
    assert len(keys) == 1
    assert keys.pop() == (stable_key(SAMPLE), stable_key(Query("north", (2020, 2021)), prompt=Prompt(text="hi")))
    # ...whereas hash() of the same string differs between those processes.
    assert len({run[2] for run in runs}) > 1


def test_key_is_sha256_hex() -> None:
    key = stable_key("a", 1)
    assert len(key) == 64 and int(key, 16) >= 0


def test_dict_order_and_set_order_do_not_matter() -> None:
    assert stable_key({"a": 1, "b": 2}) == stable_key({"b": 2, "a": 1})
    assert stable_key({"x", "y", "z"}) == stable_key({"z", "y", "x"})
    assert stable_key({2: "b", 1: "a"}) == stable_key({1: "a", 2: "b"})


def test_tuples_and_lists_are_the_same_but_other_types_are_not_confused() -> None:
    assert stable_key((1, 2)) == stable_key([1, 2])
    distinct = [1, "1", 1.5, True, None, b"1", [1], {"1": 1}, {1: 1}, {1}, decimal.Decimal("1")]
    assert len({stable_key(v) for v in distinct}) == len(distinct)


def test_tags_cannot_be_forged_by_user_dicts() -> None:
    assert stable_key(b"ab") != stable_key({"\x00bytes": "YWI="})
    assert stable_key(float("nan")) != stable_key({"\x00float": "nan"})


def test_positional_and_named_parts_are_kept_apart() -> None:
    assert stable_key(a=1) != stable_key([], {"a": 1})
    assert stable_key("a", "b") != stable_key(["a", "b"])
    assert stable_key("f", 1, x=2) == stable_key("f", 1, x=2)


def test_floats_are_deterministic() -> None:
    assert stable_key(float("nan")) == stable_key(float("nan"))
    assert stable_key(-0.0) == stable_key(0.0)  # equal values, one key
    assert stable_key(float("inf")) != stable_key(float("-inf"))
    assert stable_key(0.1 + 0.2) != stable_key(0.3)
    assert '{"\\u0000float":"nan"}' in canonical_json([float("nan")])


def test_rich_types_encode_by_value() -> None:
    assert stable_key(Prompt(text="hi")) == stable_key(Prompt(text="hi", temperature=0.0))
    assert stable_key(Prompt(text="hi")) != stable_key(Prompt(text="ho"))
    assert stable_key(Query("n", (1,))) == stable_key(Query("n", (1,)))
    assert stable_key(Color.RED) != stable_key("red")
    assert stable_key(Level.LOW) != stable_key(1)
    assert stable_key(dt.date(2024, 1, 1)) != stable_key(dt.datetime(2024, 1, 1))
    assert stable_key(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)) != stable_key(dt.datetime(2024, 1, 1))


def test_unsupported_type_raises_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"cannot encode builtins\.object at \$\[0\]\[1\]\['k'\]"):
        stable_key("prompt", {"k": object()})


def test_circular_reference_raises() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="circular reference"):
        stable_key(loop)


def test_shared_but_not_circular_values_are_fine() -> None:
    shared = [1, 2]
    assert stable_key([shared, shared]) == stable_key([[1, 2], [1, 2]])


def test_documented_example_value() -> None:
    # Pinned: a change of the canonical form would orphan every key already in Redis.
    import doctest

    from agentotel.resilience import keys

    assert doctest.testmod(keys).failed == 0
    assert stable_key("summarise", {"model": "gpt-4o", "temperature": 0.0}) == (
        "3f50583b709fb2aba7d8b64e4a59e2e5f638f93f888c4ede23df9badcf2b3aff"
    )
