"""Opaque page cursors of the list routes: where the next page starts.

A cursor is base64url (no padding) of a compact JSON array, its first element naming the
route it belongs to; clients pass it back unchanged and must not read into it. One that does
not decode, or belongs to another route, is refused with a 422 naming ``cursor``, in the
shape FastAPI gives any invalid query parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from fastapi.exceptions import RequestValidationError

__all__ = ["MAX_CURSOR", "decode_cursor", "encode_cursor", "invalid_cursor", "invalid_query"]

MAX_CURSOR: Final = 512  # characters; a cursor this code makes is far shorter
MAX_INT: Final = 2**63 - 1  # the largest number a cursor, or a tree size, may carry: a BIGINT


def encode_cursor(kind: str, *values: int | str) -> str:
    """The cursor of route ``kind`` holding ``values``."""
    raw = json.dumps([kind, *values], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, kind: str, types: tuple[type, ...]) -> list[Any]:
    """The values of a cursor of route ``kind``, checked against ``types`` (``int`` means a
    non-negative integer). Raises :class:`RequestValidationError` (422) if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise invalid_cursor(cursor) from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(types) + 1
        or decoded[0] != kind
        or not all(_is(v, t) for v, t in zip(decoded[1:], types, strict=True))
    ):
        raise invalid_cursor(cursor)
    return decoded[1:]


def invalid_cursor(cursor: str, why: str = "not a cursor this route returned") -> Exception:
    """The 422 for a cursor this route cannot continue from."""
    return invalid_query("cursor", cursor, f"{why}: pass the 'next' of the previous page unchanged")


def invalid_query(param: str, value: object, why: str) -> Exception:
    """The 422 for query parameter ``param`` (given ``value``), in the shape FastAPI gives
    any invalid query parameter, saying ``why``."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", param),
                "msg": f"Value error, {why}",
                "input": value,
            }
        ]
    )


def _is(value: object, kind: type) -> bool:
    if kind is int:
        return type(value) is int and 0 <= value <= MAX_INT
    return type(value) is kind
