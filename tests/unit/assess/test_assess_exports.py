"""The public API of ``sentinelle.assess`` is what ``__all__`` says."""

from __future__ import annotations

import importlib

import sentinelle.assess as assess_pkg

MODULES = [
    "sentinelle.assess",
    *(f"sentinelle.assess.{m}" for m in ("base", "enisa", "facts", "gdpr", "model")),
]


def test_all_names_exist_and_are_sorted() -> None:
    for module in map(importlib.import_module, MODULES):
        assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_public_members_are_exported() -> None:
    public = {
        name
        for name, value in vars(assess_pkg).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("sentinelle.assess")
        and callable(value)
    }
    assert public <= set(assess_pkg.__all__)
