"""Hook points that subclasses override: a base class's methods in the base and in every subclass defining them.

LangChain's ``Embeddings`` is an interface: every integration (``OpenAIEmbeddings``,
``OllamaEmbeddings``, ...) defines ``embed_query``/``embed_documents`` itself, so wrapping
the base class alone would see nothing. A :class:`MethodFamily` names the base class
and its methods; :func:`patch_family` wraps them (through the instrumentation's
:class:`~agentotel.instrumentation._patching.PatchSet`, so ``uninstrument()`` restores
them) in the base, in every subclass that exists when the base's module is imported,
and in every subclass defined later (a ``__init_subclass__`` hook on the base, restored
with the rest). A subclass method that calls ``super()`` passes two wrappers; the
wrappers themselves tell the inner call apart and give one span per call.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation._patching import PatchSet
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["MethodFamily", "FAMILIES", "patch_family"]


@dataclass(frozen=True)
class MethodFamily:
    """Methods of ``{module}.{base}`` to wrap wherever a class of that family defines them."""

    module: str
    base: str
    #: attribute -> ``"module:factory"`` in this package; ``factory(hooks)`` is the wrapt wrapper.
    methods: Mapping[str, str]


FAMILIES: tuple[MethodFamily, ...] = (
    MethodFamily(
        "langchain_core.embeddings.embeddings",
        "Embeddings",
        {
            "embed_query": "_embeddings:embed_wrapper",
            "embed_documents": "_embeddings:embed_wrapper",
            "aembed_query": "_embeddings:aembed_wrapper",
            "aembed_documents": "_embeddings:aembed_wrapper",
        },
    ),
    MethodFamily(
        "langchain_core.retrievers",
        "BaseRetriever",
        {"invoke": "_retrievers:invoke_wrapper", "ainvoke": "_retrievers:ainvoke_wrapper"},
    ),
)


def _subclasses(base: type) -> Iterator[type]:
    seen: set[type] = set()
    pending = list(type.__subclasses__(base))
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        pending.extend(type.__subclasses__(cls))


def _wrapper(hooks: Hooks, target: str) -> Callable[..., Any]:
    module_name, _, factory = target.partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, factory)(hooks)  # type: ignore[no-any-return]


def patch_family(patches: PatchSet, hooks: Hooks, family: MethodFamily, module: types.ModuleType) -> None:
    """Wrap ``family``'s methods in its base class of ``module``, its subclasses, and subclasses to come."""
    base = vars(module).get(family.base)
    if not isinstance(base, type):
        log_internal_error(f"{family.module}.{family.base} not found")
        return
    wrappers = {attribute: _wrapper(hooks, target) for attribute, target in family.methods.items()}

    def patch_class(cls: type) -> None:
        for attribute, wrapper in wrappers.items():
            if callable(vars(cls).get(attribute)) and not patches.patched(cls, attribute):
                try:
                    patches.wrap(cls, attribute, wrapper)
                except Exception as exc:  # one odd class must not leave the others unrecorded
                    log_internal_error(f"patch {cls.__qualname__}.{attribute}", exc)

    for cls in (base, *_subclasses(base)):
        patch_class(cls)
    patches.replace(base, "__init_subclass__", lambda original: _subclass_hook(base, original, patch_class))


def _subclass_hook(base: type, original: Any, patch_class: Callable[[type], None]) -> classmethod[Any, ..., None]:
    owned = "__init_subclass__" in vars(base)

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if owned:
            original.__get__(None, cls)(**kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
        try:
            patch_class(cls)
        except Exception as exc:  # never fail the application's class definition
            log_internal_error(f"patch {cls.__qualname__}", exc)

    return classmethod(__init_subclass__)
