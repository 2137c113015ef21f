"""Run a DuckDB call so that its replacement scans see the caller's variables, exactly as without us.

``duckdb.sql("FROM df")`` finds ``df`` by looking for a Python variable of that
name in a frame of the call stack: the innermost Python frame on duckdb 1.x
(``inspect.currentframe()``), the first frame outside duckdb's own modules on
duckdb 2.x. Called through a hook, that frame would be the hook's, so the
user's DataFrames vanish and our own variables become visible to SQL.

:func:`call_in_scope` makes the innermost frame at the moment of the call one
that *is* the caller's scope: the call runs as a one-line expression evaluated
with the caller's own globals and locals mapping (the very objects DuckDB reads
through ``f_globals`` / ``f_locals``), attributed to the caller's file, line and
function name (DuckDB quotes ``co_filename:f_lineno`` when a variable it found
cannot be scanned). The expression reads the callable from a per-thread slot
held as a code constant, so it looks up no name of its own.

The caller is the frame that called the hook (duckdb 1.x's rule), or, on duckdb
2.x, the first frame outside duckdb's modules from there (so a duckdb function
that calls a hooked method on the user's behalf finds the user's names, as it
does without us). With ``SET python_scan_all_frames=true`` DuckDB goes on
walking ``f_back`` past that frame: it then passes through the hook's frame
before reaching the caller's callers.

A failure's traceback is given back without the evaluation frame, so the frames
the user sees are their own, the hook's, and DuckDB's.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from sys import getrefcount
from types import CodeType, FrameType
from typing import Any

__all__ = ["call_in_scope", "caller_scope", "frame", "scope_rule"]

#: ``frame(1)`` is the frame that called the function calling it (CPython's ``sys._getframe``).
frame = sys._getframe  # pyright: ignore[reportPrivateUsage]

#: DuckDB looks in the innermost frame (1.x) or the first frame outside duckdb's modules (2.x).
INNERMOST, OUTSIDE_DUCKDB = "innermost", "outside-duckdb"


class _Slot(threading.local):
    """This thread's pending call; read by the evaluated expression as a constant."""

    call: Callable[[], Any] | None = None


_slot = _Slot()
_SNAPSHOTS = sys.version_info < (3, 13)  # f_locals of a function: a snapshot dict (a live proxy from 3.13)
_CO_OPTIMIZED = inspect.CO_OPTIMIZED
# "0 .call()" compiles to LOAD_CONST 0; LOAD_ATTR/LOAD_METHOD call; CALL. The constant becomes the slot.
_TEMPLATE: CodeType = compile("0 .call()", "<duckdb call>", "eval").replace(co_consts=(_slot,))
#: Evaluation code per call site (caller code object, instruction): attributed to its file, line and function.
#: Bounded; cleared when full.
_codes: dict[tuple[int, int], tuple[CodeType, CodeType]] = {}
_MAX_CODES = 4096


def scope_rule(duckdb_version: str) -> str:
    """Which frame DuckDB searches for replacement scans in ``duckdb_version``."""
    try:
        major = int(duckdb_version.split(".", 1)[0])
    except ValueError:
        return OUTSIDE_DUCKDB
    return OUTSIDE_DUCKDB if major >= 2 else INNERMOST


def _is_duckdb(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__")
    return type(name) is str and (name == "duckdb" or name.startswith("duckdb."))


def caller_scope(frame: FrameType, rule: str) -> FrameType:
    """The frame whose variables DuckDB would search when called from ``frame``."""
    if rule == OUTSIDE_DUCKDB:
        while _is_duckdb(frame) and frame.f_back is not None:
            frame = frame.f_back
    return frame


def _code_for(frame: FrameType) -> CodeType:
    code = frame.f_code
    # The call site. Not hash(code), which hashes the whole code object, nor f_lineno, which walks the line
    # table; the entry keeps the code object so that a recycled id is recognised.
    key = (id(code), frame.f_lasti)
    entry = _codes.get(key)
    if entry is not None and entry[0] is code:
        return entry[1]
    line = frame.f_lineno or code.co_firstlineno
    changes: dict[str, Any] = {"co_filename": code.co_filename, "co_name": code.co_name, "co_firstlineno": line}
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = code.co_qualname
    found = _TEMPLATE.replace(**changes)
    if len(_codes) >= _MAX_CODES:
        _codes.clear()
    _codes[key] = (code, found)
    return found


def _call_in_scope(scope: FrameType, call: Callable[[], Any]) -> Any:
    """Return ``call()``, run as if written in ``scope`` (see the module doc)."""
    __tracebackhide__ = True
    code = _code_for(scope)
    names = scope.f_locals
    slot = _slot
    slot.call = call
    try:
        return eval(code, scope.f_globals, names)
    except BaseException as exc:
        _drop_evaluation_frame(exc, code)
        raise
    finally:
        slot.call = None
        # Up to Python 3.12 a function's f_locals is a snapshot the frame keeps, and it would keep every
        # object it holds alive after the function deletes or rebinds it. Unless someone else holds the
        # snapshot (a locals() kept by the function, a debugger), it is emptied again: the next f_locals
        # or locals() fills it afresh, so nothing can tell, and object lifetimes stay what they were.
        if _SNAPSHOTS and scope.f_code.co_flags & _CO_OPTIMIZED and type(names) is dict and getrefcount(names) == 3:
            names.clear()


def _drop_evaluation_frame(exc: BaseException, code: CodeType) -> None:
    """Unlink the evaluation frame from ``exc``'s traceback (it would show the caller's line a second time)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        if tb.tb_next.tb_frame.f_code is code:
            tb.tb_next = tb.tb_next.tb_next
            return
        tb = tb.tb_next


def _self_test() -> bool:
    """The evaluation runs the slot's call with no name of its own (checked once at import)."""
    probe = object()
    here = frame(0)
    try:
        return _call_in_scope(here, lambda: probe) is probe and _TEMPLATE.co_names == ("call",)
    except Exception:
        return False


def _call_directly(scope: FrameType, call: Callable[[], Any]) -> Any:
    return call()


#: False on an interpreter that compiles the template differently; hooks then call DuckDB directly.
AVAILABLE = _self_test()
call_in_scope: Callable[[FrameType, Callable[[], Any]], Any] = _call_in_scope if AVAILABLE else _call_directly
