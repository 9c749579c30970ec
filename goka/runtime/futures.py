"""``AckFuture``: a :class:`concurrent.futures.Future` that is cheap to create and resolve.

An emitter returns one future per record, and most of them are never waited on. A plain
``Future`` builds a ``threading.Condition`` (two locks) at creation and takes it again
to resolve; together that costs several microseconds -- more than producing the record.
``AckFuture`` creates its condition (and Future's lists of waiters and callbacks) only when something first needs it (``result()``,
``add_done_callback()``, ``concurrent.futures.wait()``, ...). It resolves without any
condition when nothing has touched the future yet; otherwise it is resolved exactly like
a plain ``Future``, so waiters and callbacks behave as usual.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures._base import FINISHED, PENDING
from typing import Any, TypeVar

__all__ = ["AckFuture"]

T = TypeVar("T")

# Guards the creation of a future's condition against its condition-free resolution.
_lazy = threading.Lock()


class AckFuture(Future[T]):
    """A ``concurrent.futures.Future`` with a lazily created condition (see module docstring)."""

    # Deliberately not Future.__init__ (no Condition yet): a new future reads these class
    # defaults until it is resolved, so creating one runs no Python code at all.
    __init__ = object.__init__
    _state = PENDING
    _result: Any = None
    _exception: BaseException | None = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond: threading.Condition | None = self.__dict__.get("_cond")
        if cond is None:
            with _lazy:
                cond = self.__dict__.get("_cond")
                if cond is None:
                    # Future keeps waiters and done-callbacks in two lists, only ever used
                    # together with the condition: they are created with it.
                    self.__dict__["_waiter_list"] = []
                    self.__dict__["_callback_list"] = []
                    cond = self.__dict__["_cond"] = threading.Condition()
        return cond

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]
        self._condition  # noqa: B018 - creates the lists
        return self.__dict__["_waiter_list"]  # type: ignore[no-any-return]

    @property
    def _done_callbacks(self) -> list[Any]:
        self._condition  # noqa: B018 - creates the lists
        return self.__dict__["_callback_list"]  # type: ignore[no-any-return]

    def resolve(self, result: T | None = None, exception: BaseException | None = None) -> None:
        """Set the result (or the exception) -- without a condition if nobody looked yet."""
        with _lazy:
            if "_cond" not in self.__dict__:  # no waiter or callback can exist
                if exception is None:
                    self._result = result
                else:
                    self._exception = exception
                self._state = FINISHED
                return
        if exception is None:
            self.set_result(result)  # type: ignore[arg-type]
        else:
            self.set_exception(exception)
