"""The public API of ``sentinelle.notify`` is what ``__all__`` says."""

from __future__ import annotations

import importlib

import sentinelle.notify as notify

MODULES = [
    "sentinelle.notify",
    *(
        f"sentinelle.notify.{m}"
        for m in ("catcher", "delivery", "directory", "model", "render", "report", "setup")
    ),
]


def test_all_names_exist_and_are_sorted() -> None:
    for module in map(importlib.import_module, MODULES):
        assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_every_name_of_the_package_is_exported() -> None:
    public = {n for n in dir(notify) if not n.startswith("_")}
    modules = {
        "annotations",
        "catcher",
        "delivery",
        "directory",
        "model",
        "render",
        "report",
        "setup",
    }
    assert public - modules == set(notify.__all__)
