"""Install a plain function in place of a class or module attribute, and put the exact original back.

Why not ``wrapt`` here: a ``FunctionWrapper`` costs several microseconds per
call, which matters on a per-query path, and OpenTelemetry's ``unwrap()``
restores through ``getattr``, which breaks classes whose attribute objects are
not what ``getattr`` returns (duckdb 1.x's ``instancemethod`` entries). This
module keeps the raw object from the owner's ``__dict__`` and sets that same
object back, so ``vars(cls)[name] is original`` holds after :meth:`Patch.restore`.

Example::

    patch = install(DuckDBPyConnection, "execute", lambda original: make_hook(original))
    ...
    patch.restore()
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Patch", "install"]

_logger = logging.getLogger("agentotel")
_MISSING: Any = object()


@dataclass(frozen=True)
class Patch:
    """One replaced attribute: where, what was there, and what we put."""

    owner: Any
    name: str
    #: The raw object found in ``owner.__dict__`` (or, when inherited, the one ``getattr_static`` finds).
    original: Any
    replacement: Any
    #: Whether ``original`` lived in ``owner.__dict__`` itself (else it was inherited and is deleted back).
    owned: bool

    def restore(self) -> bool:
        """Put the original back; False (and nothing changed) when someone replaced ours meanwhile."""
        current = vars(self.owner).get(self.name, _MISSING)
        if current is not self.replacement:
            _logger.debug("agentotel: %s.%s was replaced by another library; left in place", self.owner, self.name)
            return False
        if self.owned:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)
        return True


def install(owner: Any, name: str, make: Callable[[Any], Any]) -> Patch:
    """Replace ``owner.name`` (a class or module attribute) with ``make(original)``.

    ``original`` is the raw attribute object: for a method, call it as
    ``original(self, *args)``. Raises ``AttributeError`` when there is no such attribute.
    """
    namespace = vars(owner)
    owned = name in namespace
    original = namespace[name] if owned else inspect.getattr_static(owner, name)
    replacement = make(original)
    setattr(owner, name, replacement)
    return Patch(owner, name, original, replacement, owned)
