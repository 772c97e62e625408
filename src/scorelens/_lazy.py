"""Lazy re-exports for a package's ``__init__``: public names imported from their modules on first use.

Written here once rather than in every package: ``import scorelens.stamp`` must stay light (no
NumPy-heavy module imported) while ``dir()``, tab completion and ``help()`` still show the API.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's module-level ``__getattr__`` and ``__dir__`` for its lazily imported public names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Public name -> the module defining it, relative to ``package`` (``"_peaks"``) or absolute
        (``"scorelens.stages._stamp"``).

    Returns
    -------
    getattr, dir : callable
        To assign as the package's ``__getattr__`` and ``__dir__``.
    """

    def __getattr__(name: str):
        if name in exports:
            module = exports[name]
            module = module if module.startswith("scorelens.") else f"{package}.{module}"
            value = getattr(importlib.import_module(module), name)
            setattr(sys.modules[package], name, value)  # later look-ups are plain attribute reads
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
