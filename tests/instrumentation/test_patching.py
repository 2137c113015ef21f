"""The one patching mechanism: what goes in, what comes out, and when (on import, reload, in threads)."""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import wrapt

from agentotel.instrumentation import _patching
from agentotel.instrumentation._patching import PatchSet


# --------------------------------------------------------------------------- what goes in and out
class Target:
    def method(self) -> str:
        return "original"

    @classmethod
    def build(cls) -> str:
        return f"built {cls.__name__}"


def test_replace_restores_the_exact_raw_object_from_the_class_dict() -> None:
    class Child(Target):
        pass

    patches = PatchSet("test")
    original = vars(Target)["method"]
    patch = patches.replace(Target, "method", lambda orig: lambda self: "patched " + orig(self))
    assert patch is not None and Target().method() == "patched original"
    inherited = patches.replace(Child, "method", lambda orig: lambda self: "child " + orig(self))
    assert inherited is not None and inherited.owned is False and Child().method() == "child patched original"
    patches.remove()
    assert vars(Target)["method"] is original and "method" not in vars(Child)


def test_wrap_uses_wrapt_and_restores_a_classmethod_as_it_was() -> None:
    seen: list[Any] = []

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        seen.append(instance)
        return "wrapped " + wrapped(*args, **kwargs)

    original = vars(Target)["build"]
    patches = PatchSet("test")
    patches.wrap(Target, "build", wrapper)
    assert isinstance(vars(Target)["build"], wrapt.FunctionWrapper)
    assert Target.build() == "wrapped built Target" and seen == [Target]
    patches.remove()
    assert vars(Target)["build"] is original and Target.build() == "built Target"


def test_plain_wrap_is_a_marked_function_calling_the_same_wrapper() -> None:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return (instance, wrapped())

    patches = PatchSet("test")
    patches.wrap(Target, "method", wrapper, plain=True)
    installed = vars(Target)["method"]
    target = Target()
    assert type(installed).__name__ == "function" and getattr(installed, _patching.PATCH_MARK) is True
    assert installed.__wrapped__ is Target.method.__wrapped__ and target.method() == (target, "original")
    patches.remove()
    assert Target().method() == "original"


def test_a_later_replacement_by_another_library_stays_in_place() -> None:
    class Own:
        def method(self) -> int:
            return 1

    patches = PatchSet("test")
    patches.replace(Own, "method", lambda orig: lambda self: 2)
    theirs = lambda self: 3  # noqa: E731
    Own.method = theirs  # type: ignore[method-assign]
    assert patches.replace(Own, "method", lambda orig: lambda self: 4) is None  # not stacked on theirs
    patches.remove()
    assert vars(Own)["method"] is theirs


def test_patching_twice_is_one_layer_and_nothing_is_installed_after_remove() -> None:
    class Own:
        def method(self) -> int:
            return 1

    patches = PatchSet("test")
    first = patches.replace(Own, "method", lambda orig: lambda self: orig(self) + 1)
    assert patches.replace(Own, "method", lambda orig: lambda self: orig(self) + 1) is first
    assert Own().method() == 2
    patches.remove()
    assert patches.replace(Own, "method", lambda orig: lambda self: 9) is None and Own().method() == 1


def test_concurrent_patching_of_one_attribute_installs_one_layer() -> None:
    class Own:
        def method(self) -> int:
            return 1

    patches = PatchSet("test")
    barrier = threading.Barrier(8)

    def patch() -> None:
        barrier.wait()
        patches.replace(Own, "method", lambda orig: lambda self: orig(self) + 1)

    threads = [threading.Thread(target=patch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Own().method() == 2
    patches.remove()
    assert Own().method() == 1


# --------------------------------------------------------------------------- when
@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for throw-away target modules; they leave sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("agentotel_fake"):
            del sys.modules[name]
    assert not {n for n in _patching.watched_modules() if n.startswith("agentotel_fake")}


def _write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))
    importlib.invalidate_caches()


def test_a_module_is_patched_when_imported_and_at_once_when_imported_already(modules: Path) -> None:
    _write(modules, "agentotel_fake_late", "def greet():\n    return 'hi'\n")
    seen: list[ModuleType] = []
    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_late", seen.append)
    assert seen == [] and "agentotel_fake_late" not in sys.modules  # nothing imported on our behalf
    module = importlib.import_module("agentotel_fake_late")
    assert seen == [module]
    assert module.__loader__ is module.__spec__.loader and type(module.__loader__).__name__ == "SourceFileLoader"
    now = PatchSet("test")
    now.when_imported("agentotel_fake_late", seen.append)
    assert seen == [module, module]
    patches.remove()
    now.remove()


def test_remove_cancels_pending_imports_and_takes_the_finder_off_meta_path(modules: Path) -> None:
    _write(modules, "agentotel_fake_never", "VALUE = 1\n")
    seen: list[ModuleType] = []
    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_never", seen.append)
    assert "agentotel_fake_never" in _patching.watched_modules()
    patches.remove()
    assert "agentotel_fake_never" not in _patching.watched_modules()
    if not _patching.watched_modules():
        assert not any(type(finder).__name__ == "_ImportWatcher" for finder in sys.meta_path)
    importlib.import_module("agentotel_fake_never")
    assert seen == []
    again = PatchSet("test")  # re-instrumenting works after a removal
    again.when_imported("agentotel_fake_never", seen.append)
    assert len(seen) == 1
    again.remove()


def test_a_failing_watcher_is_logged_and_the_import_completes(modules: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(modules, "agentotel_fake_fragile", "VALUE = 42\n")

    def broken(module: ModuleType) -> None:
        raise RuntimeError("bug in a hook")

    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_fragile", broken)
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        module = importlib.import_module("agentotel_fake_fragile")
    assert module.VALUE == 42
    assert any("test patching agentotel_fake_fragile" in r.getMessage() for r in caplog.records)
    patches.remove()


def test_a_failing_import_is_not_notified_and_its_error_is_unchanged(modules: Path) -> None:
    _write(modules, "agentotel_fake_broken", "raise ValueError('module bug')\n")
    seen: list[ModuleType] = []
    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_broken", seen.append)
    with pytest.raises(ValueError, match="module bug"):
        importlib.import_module("agentotel_fake_broken")
    assert seen == [] and "agentotel_fake_broken" not in sys.modules
    patches.remove()


def test_reload_re_patches_what_the_module_body_put_back(modules: Path) -> None:
    # Like duckdb 2: the connection class comes from a module that is not reloaded, and the
    # package's body sets its methods, so a reload puts the same original functions back.
    _write(
        modules,
        "agentotel_fake_engine",
        """
        class Connection:
            pass

        def sql(self):
            return "raw"
        """,
    )
    _write(
        modules,
        "agentotel_fake_reloaded",
        """
        from agentotel_fake_engine import Connection, sql

        Connection.sql = sql
        """,
    )
    patches = PatchSet("test")
    fired: list[ModuleType] = []

    def patch(module: ModuleType) -> None:
        fired.append(module)
        patches.replace(module.Connection, "sql", lambda orig: lambda self: "traced " + orig(self))

    patches.when_imported("agentotel_fake_reloaded", patch)
    module = importlib.import_module("agentotel_fake_reloaded")
    connection_class, original = module.Connection, sys.modules["agentotel_fake_engine"].sql
    assert connection_class().sql() == "traced raw"
    importlib.reload(module)
    assert len(fired) == 2 and connection_class().sql() == "traced raw"
    patches.remove()
    assert connection_class().sql() == "raw" and vars(connection_class)["sql"] is original


def test_targets_imported_by_two_threads_at_once_are_each_patched_once(modules: Path) -> None:
    for index in range(2):
        _write(
            modules,
            f"agentotel_fake_thread{index}",
            """
            import time
            time.sleep(0.05)
            def work():
                return "raw"
            """,
        )
    patches = PatchSet("test")
    calls: list[str] = []

    def patch(module: ModuleType) -> None:
        calls.append(module.__name__)
        patches.replace(module, "work", lambda orig: lambda: "traced " + orig())

    for index in range(2):
        patches.when_imported(f"agentotel_fake_thread{index}", patch)
    results: dict[str, str] = {}
    barrier = threading.Barrier(4)

    def importer(index: int, slot: int) -> None:
        barrier.wait()
        results[f"{index}-{slot}"] = importlib.import_module(f"agentotel_fake_thread{index}").work()

    threads = [threading.Thread(target=importer, args=(i % 2, i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)  # no import-lock deadlock
    assert set(results.values()) == {"traced raw"} and sorted(calls) == [
        "agentotel_fake_thread0",
        "agentotel_fake_thread1",
    ]
    patches.remove()


def test_a_target_imported_inside_another_import_is_patched(modules: Path) -> None:
    _write(modules, "agentotel_fake_inner", "def work():\n    return 'raw'\n")
    _write(
        modules,
        "agentotel_fake_outer",
        """
        import agentotel_fake_inner
        RESULT = agentotel_fake_inner.work()   # runs while this module is still being imported
        """,
    )
    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_inner", lambda m: patches.replace(m, "work", lambda o: lambda: "traced"))
    outer = importlib.import_module("agentotel_fake_outer")
    assert outer.RESULT == "traced"
    patches.remove()


def test_a_watch_registered_while_the_module_is_half_imported_fires_when_it_completes(modules: Path) -> None:
    # The module's import is under way in another thread when instrumenting starts: its loader
    # ran past the finder, so the watch waits for the module's code to finish.
    started, release = threading.Event(), threading.Event()
    _write(
        modules,
        "agentotel_fake_slow",
        """
        import builtins
        builtins._agentotel_fake_started.set()
        builtins._agentotel_fake_release.wait(10)
        def work():
            return "raw"
        """,
    )
    import builtins

    builtins._agentotel_fake_started = started  # type: ignore[attr-defined]
    builtins._agentotel_fake_release = release  # type: ignore[attr-defined]
    try:
        importer = threading.Thread(target=importlib.import_module, args=("agentotel_fake_slow",))
        importer.start()
        assert started.wait(10)
        patches = PatchSet("test")
        patched = threading.Event()

        def patch(module: ModuleType) -> None:
            patches.replace(module, "work", lambda orig: lambda: "traced")
            patched.set()

        patches.when_imported("agentotel_fake_slow", patch)
        assert not patched.is_set()  # not on a half-run module
        release.set()
        importer.join(10)
        assert patched.wait(10)
        assert sys.modules["agentotel_fake_slow"].work() == "traced"
        patches.remove()
    finally:
        release.set()
        del builtins._agentotel_fake_started, builtins._agentotel_fake_release  # type: ignore[attr-defined]


def test_the_finder_costs_nothing_for_modules_nobody_watches(modules: Path) -> None:
    _write(modules, "agentotel_fake_plain", "VALUE = 1\n")
    patches = PatchSet("test")
    patches.when_imported("agentotel_fake_watched", lambda m: None)
    module = importlib.import_module("agentotel_fake_plain")
    assert type(module.__spec__.loader).__name__ == "SourceFileLoader"
    patches.remove()


def test_waiting_gives_up_when_the_import_fails(modules: Path) -> None:
    started, release = threading.Event(), threading.Event()
    _write(
        modules,
        "agentotel_fake_fails_late",
        """
        import builtins
        builtins._agentotel_fake_started.set()
        builtins._agentotel_fake_release.wait(10)
        raise ImportError("gave up")
        """,
    )
    import builtins

    builtins._agentotel_fake_started = started  # type: ignore[attr-defined]
    builtins._agentotel_fake_release = release  # type: ignore[attr-defined]
    seen: list[ModuleType] = []
    try:

        def attempt() -> None:
            with pytest.raises(ImportError):
                importlib.import_module("agentotel_fake_fails_late")

        importer = threading.Thread(target=attempt)
        importer.start()
        assert started.wait(10)
        patches = PatchSet("test")
        patches.when_imported("agentotel_fake_fails_late", seen.append)
        release.set()
        importer.join(10)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(
            t.name == "agentotel-wait-agentotel_fake_fails_late" for t in threading.enumerate()
        ):
            time.sleep(0.01)
        assert seen == []
        patches.remove()
    finally:
        release.set()
        del builtins._agentotel_fake_started, builtins._agentotel_fake_release  # type: ignore[attr-defined]
