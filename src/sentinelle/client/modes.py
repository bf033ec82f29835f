"""What the client does when Sentinelle cannot be reached: each action fails ``open`` (served,
and the access recorded when Sentinelle is back) or ``closed`` (refused).

The defaults are the guard policy's own (``[unreachable]`` in ``docs/guard.md``): views,
searches and changes fail open; exports, downloads, deletions and bulk lists (``bulk_records``
customers or more, 10 by default) fail closed. ``FailModes.from_policy`` takes them from a
policy file when the platform has it.

What needs approval by default — exports, downloads and bulk lists — can never fail open here
either: whoever can cut the network between the console and Sentinelle would skip the
approval. A request served while Sentinelle is unreachable still hides ``open_mask`` — the
categories no built-in purpose ever shows (full card numbers, credentials, identity documents,
special categories, children's data): without a decision, nobody may see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from sentinelle.errors import ConfigError
from sentinelle.events.model import DATA_CATEGORIES
from sentinelle.guard.policy import (
    DEFAULT_APPROVAL_ACTIONS,
    DEFAULT_BULK_RECORDS,
    FAIL_MODES,
    UNREACHABLE_KEYS,
    FailMode,
    Policy,
    default_fail_modes,
    fail_mode,
    never_open,
)

__all__ = ["DEFAULT_FAIL_MODES", "OPEN_MASK", "FailModes"]

DEFAULT_FAIL_MODES: Final[Mapping[str, FailMode]] = MappingProxyType(
    default_fail_modes(DEFAULT_APPROVAL_ACTIONS)
)
#: Never fail open: they need an approved grant under the default policy.
_NEVER_OPEN: Final = never_open(DEFAULT_APPROVAL_ACTIONS)
#: Hidden from what is served while Sentinelle is unreachable: no built-in purpose shows them.
OPEN_MASK: Final = frozenset(
    {"payment_full", "credentials", "identity_document", "special", "children"}
)


@dataclass(frozen=True, slots=True)
class FailModes:
    """Fail mode per action (and ``bulk_list``), the bulk threshold and what a request served
    open still hides. Build it with :meth:`of` or :meth:`from_policy` (they check it)."""

    modes: Mapping[str, FailMode] = field(default_factory=lambda: DEFAULT_FAIL_MODES)
    bulk_records: int = DEFAULT_BULK_RECORDS
    open_mask: frozenset[str] = field(default=OPEN_MASK)

    @classmethod
    def of(
        cls,
        overrides: Mapping[str, str] | None = None,
        *,
        bulk_records: int = DEFAULT_BULK_RECORDS,
        open_mask: Iterable[str] = OPEN_MASK,
    ) -> FailModes:
        """The defaults with ``overrides`` (``{"search": "closed"}``).

        Raises :class:`~sentinelle.errors.ConfigError` listing every problem: an unknown key,
        a mode other than ``open``/``closed``, ``open`` for what needs approval, a bulk
        threshold out of 2..1,000,000, an unknown category in ``open_mask``.
        """
        problems: list[str] = []
        modes = dict(DEFAULT_FAIL_MODES)
        for key, mode in (overrides or {}).items():
            if key not in UNREACHABLE_KEYS:
                problems.append(f'fail_modes: "{key}" is not one of {", ".join(UNREACHABLE_KEYS)}')
            elif mode not in FAIL_MODES:
                problems.append(f'fail_modes.{key}: "{mode}" is not "open" or "closed"')
            elif mode == "open" and key in _NEVER_OPEN:
                problems.append(
                    f'fail_modes.{key}: "open" would let what needs approval through whenever '
                    'Sentinelle cannot be reached; it must be "closed"'
                )
            else:
                modes[key] = "open" if mode == "open" else "closed"
        if isinstance(bulk_records, bool) or not 2 <= bulk_records <= 1_000_000:
            problems.append(
                f"bulk_records: must be a whole number from 2 to 1000000, not {bulk_records!r}"
            )
        hidden = frozenset(open_mask)
        for category in sorted(hidden - set(DATA_CATEGORIES)):
            problems.append(f'open_mask: "{category}" is not a data category')
        if problems:
            raise ConfigError("invalid fail modes: " + "; ".join(problems))
        return cls(MappingProxyType(modes), bulk_records, hidden)

    @classmethod
    def from_policy(cls, policy: Policy, *, open_mask: Iterable[str] = OPEN_MASK) -> FailModes:
        """The fail modes and bulk threshold of a guard policy (its ``[unreachable]`` table,
        already checked when the policy was read)."""
        return cls(
            MappingProxyType(dict(policy.unreachable)),
            policy.approval.bulk_records,
            frozenset(open_mask),
        )

    def mode(self, action: str, records: int) -> FailMode:
        """``open`` or ``closed`` for ``action`` on ``records`` customers (as the policy's
        :meth:`~sentinelle.guard.policy.Policy.fail_mode`)."""
        return fail_mode(self.modes, self.bulk_records, action, records)
