"""``python -m sentinelle``: the same as the ``sentinelle`` command."""

from __future__ import annotations

from sentinelle.cli import main

main()
