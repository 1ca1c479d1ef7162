"""Module-level `__getattr__` for packages that export names lazily."""

import importlib


def lazy_exports(namespace, exports):
    """Makes `namespace` (a package's `globals()`) import names on use.

    Args:
        namespace: the package's `globals()`.
        exports: dict public name -> module defining it.

    Returns:
        `(__getattr__, __dir__)` for the package to bind.
    """

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            raise AttributeError(
                f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
