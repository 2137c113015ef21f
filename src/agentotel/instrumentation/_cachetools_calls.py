"""Which ``@cached`` / ``@cachedmethod`` call a cachetools miss belongs to, and where it keeps its function.

Why this module reads frames and cachetools' private attributes: cachetools offers
no hook between a decorated function's cache miss and its call of the function,
and the function cannot be reached from the cache. At the miss the decorator's
wrapper is running a few frames up the stack, and it holds the function either as
a closure variable (``func`` or ``method``; cachetools 5.x to 7.x) or as a
name-mangled attribute of a wrapper object (``self.__func``; cachetools 8).
Everything that depends on those internals is here:

* :func:`learn` reads the wrappers' code objects from a cachetools module when it
  is imported (no table of versions: the shapes are recognised in the code);
* :func:`decorated_call` walks at most a few frames up from a miss to a wrapper
  and returns the function it is about to call, with the :class:`Slot` it reads
  the function from, when that slot can be reached: the wrapper object's attribute,
  or the closure cell of the wrapper function, found where a program keeps a
  decorated function (a module global or class attribute of the function's name,
  the ``__call__`` of cachetools 7's method wrappers, or a local of the caller).

Every slot is checked by identity (its wrapper runs the frame's code and holds the
function the frame holds) before it is offered. A cachetools release that changes
these shapes leaves misses unnamed and loads untraced, never wrong.
"""

from __future__ import annotations

import inspect
import re
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any, cast

__all__ = ["MODULES", "DecoratedCall", "Slot", "decorated_call", "known", "learn"]

#: The cachetools modules that define decorator wrappers, across versions 5.3 to 8.x.
MODULES = (
    "cachetools",
    "cachetools._decorators",
    "cachetools._cached",
    "cachetools._cachedmethod",
    "cachetools._decorator",
)
_CLOSURE_NAMES = ("func", "method")  # the decorated function, as cachetools' closures call it
_MANGLED = re.compile(r"_[A-Za-z]\w*__func")  # self.__func in a cachetools class
_MAX_FRAMES = 8  # from __missing__ up to the wrapper: 4-6 frames in practice
_MAX_UNWRAP = 4

#: Wrapper code -> ("closure", variable) or ("attribute", mangled attribute name).
_WRAPPERS: dict[types.CodeType, tuple[str, str]] = {}
# Functions whose wrapper could not be found (looked for once, not on every miss).
_unreachable: weakref.WeakKeyDictionary[Any, None] = weakref.WeakKeyDictionary()


class Slot:
    """Where a running wrapper reads its function from: get it, or put another callable there."""

    __slots__ = ("_holder", "_name")

    def __init__(self, holder: Any, name: str) -> None:
        self._holder = holder  # a closure cell (name "cell_contents") or a wrapper object's __dict__
        self._name = name

    def get(self) -> Any:
        """What the wrapper calls now."""
        if self._name == "cell_contents":
            return self._holder.cell_contents
        return self._holder.get(self._name)

    def set(self, function: Callable[..., Any]) -> None:
        """Have the wrapper call ``function`` from now on."""
        if self._name == "cell_contents":
            self._holder.cell_contents = function
        else:
            self._holder[self._name] = function


class DecoratedCall:
    """A wrapper that missed: the function it calls next, and (looked for on demand) its slot."""

    __slots__ = ("function", "_frame", "_name", "_kind")

    def __init__(self, function: Callable[..., Any], frame: types.FrameType, kind: str, name: str) -> None:
        #: What the wrapper calls after the miss.
        self.function = function
        self._frame = frame
        self._kind = kind
        self._name = name

    def slot(self) -> Slot | None:
        """Where the wrapper reads :attr:`function` from, or ``None`` where that cannot be reached."""
        if self._kind == "attribute":
            return Slot(vars(self._frame.f_locals["self"]), self._name)
        return _closure_slot(self._frame, self._name, self.function)


def known() -> bool:
    """Whether any wrapper code is known (cachetools' decorators have been imported)."""
    return bool(_WRAPPERS)


def learn(module: types.ModuleType) -> None:
    """Remember the wrapper code objects that ``module`` (one of :data:`MODULES`) defines."""
    for code in _codes(vars(module).values(), depth=0):
        for name in _CLOSURE_NAMES:
            if code.co_name in ("wrapper", "__call__") and name in code.co_freevars:
                _WRAPPERS[code] = ("closure", name)
        if code.co_name == "__call__" and code.co_varnames[:1] == ("self",):
            for name in code.co_names:
                if _MANGLED.fullmatch(name):
                    _WRAPPERS[code] = ("attribute", name)


def _codes(objects: Any, depth: int) -> Iterator[types.CodeType]:
    """The code objects of the functions and classes in ``objects``, nested ones included."""
    for obj in objects:
        if isinstance(obj, types.FunctionType):
            yield from _nested(obj.__code__)
        elif isinstance(obj, type) and depth < 3:
            yield from _codes(vars(obj).values(), depth + 1)


def _nested(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested(const)


def decorated_call(miss: types.FrameType) -> DecoratedCall | None:
    """The decorator call that the miss in frame ``miss`` happened in, if any."""
    frame: types.FrameType | None = miss
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        shape = _WRAPPERS.get(frame.f_code)
        if shape is not None:
            kind, name = shape
            local = frame.f_locals
            holder = cast("dict[str, Any]", vars(local["self"]) if kind == "attribute" else local)
            function = cast("Callable[..., Any]", holder[name])
            return DecoratedCall(function, frame, kind, name)
        frame = frame.f_back
    return None


def _closure_slot(frame: types.FrameType, name: str, function: Any) -> Slot | None:
    code = frame.f_code
    try:
        if function in _unreachable:
            return None
    except TypeError:  # not weakly referenceable: looked for each time
        pass
    index = code.co_freevars.index(name)
    for candidate in _wrapper_candidates(frame, function):
        for layer in _layers(candidate):
            if getattr(layer, "__code__", None) is code:
                cell = layer.__closure__[index]
                if cell.cell_contents is function:
                    return Slot(cell, "cell_contents")
    try:
        _unreachable[function] = None
    except TypeError:
        pass
    return None


def _wrapper_candidates(frame: types.FrameType, function: Any) -> Iterator[Any]:
    """Where programs keep the wrapper of ``function``: most likely first."""
    local = frame.f_locals
    owner: object = local.get("self")
    if owner is not None:
        yield from _class_attributes(type(owner), "__call__")  # cachetools 7's method wrappers
    name = getattr(function, "__name__", None)
    if isinstance(name, str):
        yield getattr(function, "__globals__", {}).get(name)  # a module-level function
        args: object = local.get("args")
        first: object = cast("tuple[object, ...]", args)[0] if isinstance(args, tuple) and args else None
        for instance in (owner, first):
            if instance is not None:  # a method, or a @cached function on a class
                yield from _class_attributes(instance if isinstance(instance, type) else type(instance), name)
    caller = frame.f_back
    if caller is not None:
        yield from caller.f_locals.values()  # a local function of the caller


def _class_attributes(cls: type, name: str) -> Iterator[Any]:
    for klass in inspect.getmro(cls):
        found = vars(klass).get(name)
        if found is not None:
            yield found
            return


def _layers(candidate: Any) -> Iterator[Any]:
    """``candidate`` and what it wraps (static/class methods, ``functools.wraps`` chains), a few layers deep."""
    for _ in range(_MAX_UNWRAP):
        if candidate is None:
            return
        yield candidate
        candidate = getattr(candidate, "__func__", None) or getattr(candidate, "__wrapped__", None)
