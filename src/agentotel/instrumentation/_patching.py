"""How every agentotel instrumentor puts its hooks into a library, when, and how it takes them out again.

What goes in place of an attribute of a class or module:

* :meth:`PatchSet.wrap`: a ``wrapt`` ``FunctionWrapper`` calling
  ``wrapper(wrapped, instance, args, kwargs)``, the default; with ``plain=True`` the
  same wrapper is called from a plain function (for callers that inspect the
  attribute's type, e.g. ``ExitStack.push`` takes any proxy for a context manager).
* :meth:`PatchSet.replace`: a plain function made by ``make(original)``, where a
  wrapper's per-call cost was measured on a hot path (DuckDB statements and relation
  terminals, cachetools lookups) or where the attribute is not a function at all.

Either way the raw object is taken from the owner's ``__dict__`` (not through
``getattr``, which binds or runs descriptors) and :meth:`Patch.restore` puts that
exact object back, so ``vars(owner)[name] is original`` holds afterwards. If another
library replaced ours in the meantime, its replacement stays: removing ours from
under it would break it.

When: :meth:`PatchSet.when_imported` runs a function on a module at once if the
module is imported, else when the application imports it, and again if the
module is reloaded (``importlib.reload`` re-runs the module body, which puts the
original functions back). Nothing is imported on the application's behalf.
:meth:`PatchSet.remove` cancels what is still pending and restores every patch;
a module-level watch list that becomes empty takes its finder off
``sys.meta_path``.

How imports are watched: a finder at the head of ``sys.meta_path`` answers only
for watched module names; it asks the finders after it for the module's spec
(calling them directly, as the import system does, rather than re-entering the
import machinery) and wraps that spec's loader, which runs the real loader, puts
it back on the module and then calls the watchers. ``wrapt``'s post-import hooks
were not used because a hook cannot be removed, does not fire on reload, and
fires at once on a module that is still being imported; the finder here is
removed when nothing is watched, fires on reload, and waits for a module that is
half-imported (by another thread, or further up this thread's stack) to finish.

Locks: the watch list and each patch set have one plain lock each, held for
dictionary updates and ``setattr`` only; watchers run outside them (an import
lock of the watched module is held by the importing thread while they run).
A watcher never raises into the import: its failure is logged and the import
completes.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import types
from collections.abc import Callable, Collection
from typing import Any

from agentotel._telemetry import log_internal_error

__all__ = ["Patch", "PatchSet", "require_installed"]

_MISSING: Any = object()
#: Marks the plain functions we install (besides ``__wrapped__``, which points at the original).
PATCH_MARK = "__agentotel_patch__"  # a dunder, like __wrapped__: invisible to dir()-based checks
#: How long a watch waits for a module that another import is still executing.
_HALF_IMPORTED_WAIT_S = 120.0

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


# --------------------------------------------------------------------------- patches
class Patch:
    """One replaced attribute: where, what was there, and what we put.

    ``original`` is the raw object found in ``owner.__dict__`` (or, when inherited, the
    one ``inspect.getattr_static`` finds); ``owned`` says whether it lived in
    ``owner.__dict__`` itself (else it was inherited, and ours is deleted again).
    """

    __slots__ = ("owner", "name", "original", "replacement", "owned")

    def __init__(self, owner: object, name: str, original: Any, replacement: Any, owned: bool) -> None:
        self.owner = owner
        self.name = name
        self.original = original
        self.replacement = replacement
        self.owned = owned

    def __repr__(self) -> str:
        return f"<Patch {getattr(self.owner, '__name__', self.owner)!s}.{self.name}>"

    def in_place(self) -> bool:
        """Whether ``owner.name`` is still our replacement."""
        return vars(self.owner).get(self.name, _MISSING) is self.replacement

    def reverted(self) -> bool:
        """Whether ``owner.name`` is the original again (a reload re-ran the code that defines it)."""
        return vars(self.owner).get(self.name, _MISSING) is (self.original if self.owned else _MISSING)

    def restore(self) -> bool:
        """Put the original back; False (and nothing changed) when ours is no longer there."""
        if not self.in_place():
            return False
        if self.owned:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)
        return True


def _raw_attribute(owner: object, name: str) -> tuple[Any, bool]:
    """``(object, owned)``: the raw attribute from ``owner.__dict__``, else the inherited one."""
    namespace = vars(owner)
    if name in namespace:
        return namespace[name], True
    import inspect

    return inspect.getattr_static(owner, name), False  # raises AttributeError when there is none


def _mark(replacement: Any, original: Any) -> Any:
    if isinstance(replacement, types.FunctionType):
        setattr(replacement, PATCH_MARK, True)
        if not hasattr(replacement, "__wrapped__"):
            replacement.__wrapped__ = original  # pyright: ignore[reportFunctionMemberAccess]
    return replacement


def _plain_caller(wrapper: Wrapper, method: bool) -> Callable[[Any], Any]:
    """A factory of plain functions that call a wrapt-style ``wrapper``."""

    def make(original: Any) -> Any:
        if method:

            def patched(self: Any, *args: Any, **kwargs: Any) -> Any:  # pyright: ignore[reportRedeclaration]
                return wrapper(original.__get__(self, type(self)), self, args, kwargs)

        else:

            def patched(*args: Any, **kwargs: Any) -> Any:
                return wrapper(original, None, args, kwargs)

        return functools.update_wrapper(patched, original)

    return make


class PatchSet:
    """The patches one ``instrument()`` installed and the imports it still waits for.

    Safe to use from several threads: each attribute is patched at most once per set
    (a second request for an attribute that is ours already returns the first patch),
    and nothing is installed after :meth:`remove`.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._patches: dict[tuple[int, str], Patch] = {}
        self._watches: list[_Watch] = []
        self._removed = False

    # ---- what goes in
    def wrap(self, owner: Any, name: str, wrapper: Wrapper, *, plain: bool = False) -> Patch | None:
        """Put ``wrapper`` (``wrapper(wrapped, instance, args, kwargs)``) around ``owner.name``."""
        if plain:
            return self._install(owner, name, _plain_caller(wrapper, isinstance(owner, type)))
        import wrapt  # here, not at the top: wrapt 2 imports asyncio, which an application may never need

        return self._install(owner, name, lambda original: wrapt.FunctionWrapper(original, wrapper))

    def replace(self, owner: Any, name: str, make: Callable[[Any], Any]) -> Patch | None:
        """Put ``make(original)`` in place of ``owner.name``; ``original`` is the raw attribute.

        For a method, the replacement calls ``original(self, *args)``. Raises
        ``AttributeError`` when ``owner`` has no such attribute.
        """
        return self._install(owner, name, make)

    def _install(self, owner: object, name: str, make: Callable[[Any], Any]) -> Patch | None:
        key = (id(owner), name)  # the patch holds ``owner``, so its id is not reused meanwhile
        with self._lock:
            if self._removed:
                return None
            seen = vars(owner).get(name, _MISSING)
            previous = self._patches.get(key)
            if previous is not None and not previous.reverted():
                # Ours, or another library's on top of ours: patched once is enough.
                return previous if previous.in_place() else None
        original, owned = _raw_attribute(owner, name)
        replacement = _mark(make(original), original)  # our factories run outside the lock
        with self._lock:
            if self._removed:
                return None
            if vars(owner).get(name, _MISSING) is not seen:  # another thread got there first
                return self._patches.get(key)
            setattr(owner, name, replacement)
            patch = Patch(owner, name, original, replacement, owned)
            self._patches[key] = patch
            return patch

    def patched(self, owner: Any, name: str) -> bool:
        """Whether this set's patch of ``owner.name`` is in place."""
        patch = self._patches.get((id(owner), name))
        return patch is not None and patch.in_place()

    # ---- when
    def when_imported(self, module_name: str, apply: Callable[[types.ModuleType], None]) -> None:
        """Call ``apply(module)`` now if ``module_name`` is imported, else when it is; again after a reload.

        ``apply`` runs in the importing thread right after the module's code ran; an
        exception in it is logged, never raised into the import.
        """
        watch = _Watch(module_name, apply, self.label)
        with self._lock:
            if self._removed:
                return
            self._watches.append(watch)
        watch.start()

    # ---- what comes out
    def remove(self) -> None:
        """Cancel pending imports and restore every patch (another library's replacement on top stays)."""
        with self._lock:
            self._removed = True
            watches, self._watches = self._watches, []
            patches = list(self._patches.values())
            self._patches.clear()
        for watch in watches:
            watch.cancel()
        for patch in reversed(patches):
            try:
                patch.restore()
            except Exception as exc:  # one attribute we cannot restore must not keep the others
                log_internal_error(f"{self.label} restore {patch.name}", exc)


# --------------------------------------------------------------------------- presence
def require_installed(requirements: Collection[str]) -> None:
    """Raise when a distribution in ``requirements`` is missing or outside its range (package metadata only).

    Raises the ``DependencyConflictError`` that ``opentelemetry-instrument`` expects from an
    instrumentor whose library is absent (``ModuleNotFoundError`` where that class does not
    exist yet), so that it skips the instrumentor as it would one whose import failed.
    """
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(requirements)
    if conflict is None:
        return
    try:
        from opentelemetry.instrumentation.dependencies import DependencyConflictError
    except ImportError:  # pragma: no cover - opentelemetry-instrumentation < 0.52b0
        raise ModuleNotFoundError(str(conflict)) from None
    raise DependencyConflictError(conflict)


# --------------------------------------------------------------------------- import watching
class _Watch:
    """One ``when_imported`` request: a module name and what to run on it."""

    __slots__ = ("module_name", "apply", "label", "cancelled")

    def __init__(self, module_name: str, apply: Callable[[types.ModuleType], None], label: str) -> None:
        self.module_name = module_name
        self.apply = apply
        self.label = label
        self.cancelled = False

    def start(self) -> None:
        module = _register(self)
        if module is None:
            return
        if not _half_imported(module):
            self.fire(module)
        elif not _notification_coming(module):
            _fire_when_imported(self, module)

    def fire(self, module: types.ModuleType) -> None:
        if self.cancelled:
            return
        try:
            self.apply(module)
        except Exception as exc:  # never fail the application's import
            log_internal_error(f"{self.label} patching {self.module_name}", exc)

    def cancel(self) -> None:
        _unregister(self)


_watch_lock = threading.Lock()
#: module name -> its watches. Replaced, never mutated in place, so that readers need no lock.
_watches: dict[str, tuple[_Watch, ...]] = {}


def _register(watch: _Watch) -> types.ModuleType | None:
    """Add ``watch``; return the module if it is imported already (fully or not)."""
    with _watch_lock:
        if watch.cancelled:
            return None
        _watches[watch.module_name] = (*_watches.get(watch.module_name, ()), watch)
        if not any(finder is _FINDER for finder in sys.meta_path):
            sys.meta_path.insert(0, _FINDER)  # an insert at the head cannot make a concurrent lookup skip one
        return sys.modules.get(watch.module_name)


def _unregister(watch: _Watch) -> None:
    with _watch_lock:
        watch.cancelled = True
        remaining = tuple(w for w in _watches.get(watch.module_name, ()) if w is not watch)
        if remaining:
            _watches[watch.module_name] = remaining
        else:
            _watches.pop(watch.module_name, None)
        if not _watches:
            # A new list rather than an in-place removal: a lookup iterating the old one is not disturbed.
            sys.meta_path = [finder for finder in sys.meta_path if finder is not _FINDER]


def watched_modules() -> frozenset[str]:
    """The module names some instrumentation waits for or re-patches on reload (for tests and diagnostics)."""
    return frozenset(_watches)


def _half_imported(module: Any) -> bool:
    """Whether ``module`` is in ``sys.modules`` while its code is still running."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _fire_when_imported(watch: _Watch, module: types.ModuleType) -> None:
    """``module`` is being imported right now (by another thread, or further up this one's stack).

    Its loader already ran past our finder, so wait for its code to finish in a
    short-lived thread, then fire: blocking here could deadlock with that import.
    """

    def wait() -> None:
        deadline = time.monotonic() + _HALF_IMPORTED_WAIT_S
        while time.monotonic() < deadline and not watch.cancelled:
            current = sys.modules.get(watch.module_name)
            if current is None:
                return  # the import failed; an import that succeeds later goes through the finder
            if not _half_imported(module):
                watch.fire(current)
                return
            time.sleep(0.002)

    threading.Thread(target=wait, name=f"agentotel-wait-{watch.module_name}", daemon=True).start()


_notifying = threading.local()  # .names: the modules this thread is notifying watches of


def _notification_coming(module: types.ModuleType) -> bool:
    """Whether this half-imported module's watches will be notified without a waiting thread.

    True while its loader is ours (its code is running: the notification follows) or
    while this thread is notifying its watches (a watch added meanwhile is picked up).
    """
    spec = getattr(module, "__spec__", None)
    if isinstance(getattr(spec, "loader", None), _NotifyingLoader):
        return True
    return getattr(spec, "name", None) in getattr(_notifying, "names", ())


def _notify(module: types.ModuleType) -> None:
    name = module.__spec__.name if getattr(module, "__spec__", None) is not None else module.__name__  # pyright: ignore[reportOptionalMemberAccess]
    module = sys.modules.get(name, module)  # a module may replace itself in sys.modules
    names: set[str] = _notifying.__dict__.setdefault("names", set())
    names.add(name)
    try:
        fired: list[_Watch] = []
        while True:  # watches added by a watcher (an instrumentor switched on by this import) run too
            pending = [w for w in _watches.get(name, ()) if not any(w is done for done in fired)]
            if not pending:
                return
            for watch in pending:
                fired.append(watch)
                watch.fire(module)
    finally:
        names.discard(name)


class _NotifyingLoader:
    """Stands in for a watched module's loader during one load: runs the real one, puts it back, notifies."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def create_module(self, spec: Any) -> types.ModuleType | None:
        create = getattr(self.loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self.loader.exec_module(module)
        finally:
            if getattr(module, "__loader__", None) is self:
                try:
                    module.__loader__ = self.loader
                except AttributeError:
                    pass
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self.loader
        _notify(module)


class _ImportWatcher:
    """The meta-path finder behind :meth:`PatchSet.when_imported`; answers only for watched names."""

    def __init__(self) -> None:
        self._local = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _watches:
            return None
        busy: set[str] = self._local.__dict__.setdefault("busy", set())
        if fullname in busy:  # another finder re-entered the import machinery for this name
            return None
        busy.add(fullname)
        try:
            spec = self._find_after_me(fullname, path, target)
        finally:
            busy.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or isinstance(loader, _NotifyingLoader) or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _NotifyingLoader(loader)
        return spec

    def _find_after_me(self, fullname: str, path: Any, target: Any) -> Any:
        finders = list(sys.meta_path)
        start = next((i + 1 for i, finder in enumerate(finders) if finder is self), 0)
        for finder in finders[start:]:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is not None:
                spec = find_spec(fullname, path, target)
            else:  # pragma: no cover - legacy finders (Python < 3.12)
                from importlib.util import spec_from_loader

                find_module = getattr(finder, "find_module", None)
                loader = find_module(fullname, path) if find_module is not None else None
                spec = spec_from_loader(fullname, loader) if loader is not None else None
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached here."""


_FINDER = _ImportWatcher()
