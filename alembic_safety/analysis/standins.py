"""Permissive stand-ins for application code a revision imports but the linter cannot.

Real histories do ``from myapp.models import Base`` or use custom column types from packages
that are not installed where the linter runs (pre-commit, a slim CI image). Refusing to analyse
those revisions would make the tool useless exactly where it matters, so while revision files
run, an import that fails *in project code* yields a stand-in: a class that accepts any call,
attribute, subclassing, iteration and string concatenation, and that is a SQLAlchemy
``NullType`` so it works as a column type. Imports made by installed libraries are never
touched: their optional-dependency fallbacks must keep working.
"""

from __future__ import annotations

import builtins
import functools
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.types import NullType

__all__ = ["StandIn", "is_stand_in", "tolerant_imports"]


class _StandInMeta(type):
    """Class-level behaviour: ``Thing.attr``, ``str(Thing)``, ``"x" + Thing`` all keep working."""

    _stand_in_path: str

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return make_stand_in(f"{cls._stand_in_path}.{name}")

    def __str__(cls) -> str:
        return cls._stand_in_path

    def __iter__(cls) -> Iterator[Any]:
        return iter(())

    def __len__(cls) -> int:
        return 0

    def __add__(cls, other: Any) -> Any:
        return f"{cls}{other}" if isinstance(other, str) else cls

    def __radd__(cls, other: Any) -> Any:
        return f"{other}{cls}" if isinstance(other, str) else cls

    def __getitem__(cls, key: Any) -> Any:
        return make_stand_in(f"{cls._stand_in_path}[{key!r}]")

    def __or__(cls, other: Any) -> Any:
        return cls

    __ror__ = __or__


class StandIn(NullType, metaclass=_StandInMeta):
    """An instance of an unknown application class: a column type of unknown kind, or anything."""

    _stand_in_path = "<stand-in>"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return make_stand_in(f"{type(self)._stand_in_path}().{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)()

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __str__(self) -> str:
        return f"{type(self)._stand_in_path}()"

    def __repr__(self) -> str:
        return f"<stand-in {self}>"


def make_stand_in(path: str) -> type[StandIn]:
    """A fresh stand-in class named after the dotted path it replaces."""
    return types.new_class(
        path.rsplit(".", 1)[-1] or "StandIn",
        (StandIn,),
        exec_body=lambda ns: ns.update({"_stand_in_path": path}),
    )


def is_stand_in(value: object) -> bool:
    """True for a stand-in class or instance (analysis treats their values as unknown)."""
    return isinstance(value, StandIn) or (isinstance(value, type) and issubclass(value, StandIn))


class StandInModule(types.ModuleType):
    """A module that exists only as a stand-in: every attribute is a stand-in class."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = make_stand_in(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _PartialModule(types.ModuleType):
    """A real module missing some names: real attributes first, stand-ins for the rest."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__)
        self.__dict__.update(real.__dict__)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return make_stand_in(f"{self.__name__}.{name}")


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Directories whose code is an installed library (stdlib, site-packages, the venv)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    # Both spellings: a venv is often reached through a symlink.
    spelled = {os.path.abspath(r) for r in roots if r} | {os.path.realpath(r) for r in roots if r}
    return tuple(sorted(spelled))


@functools.lru_cache(maxsize=8192)
def _is_project_file(filename: str) -> bool:
    """Code outside the installed libraries: the revisions, their helpers, the application."""
    return not os.path.abspath(filename).startswith(_library_roots())


class _TolerantImporter:
    """Replacement for ``builtins.__import__`` while revision code runs."""

    def __init__(
        self, real_import: Callable[..., types.ModuleType], on_stand_in: Callable[[str, str], None]
    ) -> None:
        self.real_import = real_import
        self.on_stand_in = on_stand_in

    def _from_project(self, globals_: Mapping[str, Any] | None) -> bool:
        filename = (globals_ or {}).get("__file__")
        return bool(filename) and _is_project_file(str(filename))

    def __call__(
        self,
        name: str,
        globals_: Mapping[str, Any] | None = None,
        locals_: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if not self._from_project(globals_):
            return self.real_import(name, globals_, locals_, fromlist, level)
        try:
            module = self.real_import(name, globals_, locals_, fromlist, level)
        except Exception as exc:  # any failure in app code: missing package, settings, ...
            return self._stand_in_for(name, fromlist, exc)
        if fromlist:
            missing = [item for item in fromlist if item != "*" and not hasattr(module, item)]
            if missing:
                for item in missing:
                    self.on_stand_in(f"{module.__name__}.{item}", "name not found")
                return _PartialModule(module)
        return module

    def _stand_in_for(
        self, name: str, fromlist: Sequence[str] | None, exc: Exception
    ) -> types.ModuleType:
        self.on_stand_in(name or "<relative import>", f"{type(exc).__name__}: {exc}")
        module = StandInModule(name or "relative")
        if not fromlist and "." in name:
            # ``import a.b.c`` binds ``a``; attribute access then walks to the stand-in.
            return StandInModule(name.split(".", 1)[0])
        return module


@contextmanager
def tolerant_imports(
    on_stand_in: Callable[[str, str], None], extra_paths: Sequence[Path] = ()
) -> Iterator[None]:
    """Run revision code with stand-ins for failing project imports and extra ``sys.path`` dirs.

    ``on_stand_in(name, why)`` is told about each substitution, so the report can say what was
    not really imported. Restores ``builtins.__import__`` and ``sys.path`` afterwards.
    """
    saved_import = builtins.__import__
    saved_path = list(sys.path)
    for path in extra_paths:
        text = str(path)
        if text not in sys.path:
            sys.path.append(text)
    builtins.__import__ = _TolerantImporter(saved_import, on_stand_in)  # type: ignore[assignment]
    try:
        yield
    finally:
        builtins.__import__ = saved_import
        sys.path[:] = saved_path
