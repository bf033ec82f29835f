"""The monitor's configuration: what it pins (the log's keys, the witnesses' keys, a quorum)
and where it reads the log. A TOML file, ``DIR/monitor.toml`` by default::

    origin = "shop.example/ledger"                  # the log's checkpoint origin
    log_keys = ["shop.example/ledger+1a2b3c4d+AU…"]  # `sentinelle ledger key` (+ old ones)
    witnesses = ["witness.example/w1+5e6f7a8b+BB…"]  # `sentinelle witness key` of each
    quorum = 1                                      # cosignatures required [default: all]
    url = "https://sentinelle.shop.example"         # the API (SENTINELLE_MONITOR_API_KEY) …
    # published = "https://ledger.shop.example/"    # … or a published copy (URL or directory)
    # merchant = "m-1000"                           # check this merchant's slice (API only)

Keys here are public: pin them from a source you trust (the log's operator, out of band),
never from the log the monitor watches. Secrets (the API key, the webhook's HMAC key, the SMTP
password) are never in this file nor on the command line: environment variables or files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ledger.checkpoint import Checkpoint, Verifier
from sentinelle.ledger.cosignature import CosignatureVerifier
from sentinelle.ledger.merkle import EMPTY_ROOT

__all__ = ["CONFIG_FILE", "MonitorConfig"]

CONFIG_FILE: Final = "monitor.toml"
_MAX_CONFIG_BYTES: Final = 256 * 1024


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str = Field(min_length=1, max_length=256)
    log_keys: list[str] = Field(min_length=1, max_length=16)
    witnesses: list[str] = Field(default_factory=list, max_length=64)
    quorum: int | None = Field(default=None, ge=0)
    url: str | None = None
    published: str | None = None
    merchant: str | None = Field(default=None, min_length=1, max_length=200)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    """The parsed configuration: keys as verifiers, the quorum, where the log is."""

    origin: str
    log_keys: tuple[Verifier, ...]
    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int
    url: str | None = None
    published: str | None = None
    merchant: str | None = None

    @classmethod
    def from_toml(cls, path: Path) -> MonitorConfig:
        """Read and check ``path``.

        Raises :class:`ConfigError` naming the file and the problem: unreadable, not TOML, an
        unknown or missing field, a malformed key, a witness listed twice, a quorum larger
        than the witnesses.
        """
        try:
            with path.open("rb") as f:
                data = f.read(_MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read the monitor config {path}: {exc.strerror}") from None
        if len(data) > _MAX_CONFIG_BYTES:
            raise ConfigError(f"the monitor config {path} is larger than {_MAX_CONFIG_BYTES} bytes")
        try:
            raw = tomllib.loads(data.decode("utf-8"))
            parsed = _File.model_validate(raw)
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the monitor config {path}: {exc}") from None
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid monitor config {path}: {problems}") from None
        try:
            return cls.build(
                origin=parsed.origin,
                log_keys=parsed.log_keys,
                witnesses=parsed.witnesses,
                quorum=parsed.quorum,
                url=parsed.url,
                published=parsed.published,
                merchant=parsed.merchant,
            )
        except ConfigError as exc:
            raise ConfigError(f"invalid monitor config {path}: {exc}") from None

    @classmethod
    def build(
        cls,
        *,
        origin: str,
        log_keys: list[str],
        witnesses: list[str],
        quorum: int | None = None,
        url: str | None = None,
        published: str | None = None,
        merchant: str | None = None,
    ) -> MonitorConfig:
        """Parse the keys and check the quorum. Raises :class:`ConfigError`."""
        try:
            Checkpoint(origin=origin, size=0, root=EMPTY_ROOT)  # a writable origin
        except IntegrityError as exc:  # the origin cannot be a checkpoint's
            raise ConfigError(f"origin: {exc}") from None
        keys = tuple(Verifier.from_verifier_key(k) for k in log_keys)
        parsed = tuple(CosignatureVerifier.from_verifier_key(w) for w in witnesses)
        ids = [w.key_id for w in parsed]
        if len(set(ids)) != len(ids):
            raise ConfigError("witnesses: a witness key is listed twice")
        quorum = len(parsed) if quorum is None else quorum
        if quorum > len(parsed):
            raise ConfigError(
                f"quorum: {quorum} cosignatures cannot come from {len(parsed)} pinned witness(es)"
            )
        return cls(
            origin=origin,
            log_keys=keys,
            witnesses=parsed,
            quorum=quorum,
            url=url,
            published=published,
            merchant=merchant,
        )
