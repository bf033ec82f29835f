"""OpenTelemetry logs over OTLP/HTTP → access events (the receiver of ``POST
/v1/otlp/v1/logs``, docs/connectors.md "Applications").

It follows the OTLP specification's OTLP/HTTP transport: the body is an
``ExportLogsServiceRequest`` (``opentelemetry-proto``), binary protobuf
(``application/x-protobuf``) or JSON (``application/json``: the proto3 JSON mapping with
OTLP's rules — trace and span ids in hex, not base64; enums as integers; 64-bit integers as
decimal strings, numbers accepted too; lowerCamelCase names, the original names accepted too;
unknown fields ignored). It may be compressed (``Content-Encoding: gzip``, which every OTLP
server must take, or ``deflate``, which the Python exporter offers). The answer is an
``ExportLogsServiceResponse`` in the request's encoding; an error's body is a
``google.rpc.Status`` in it too (JSON for a request whose type is not OTLP's).

Which records become events: those with ``sentinelle.*`` attributes
(:mod:`sentinelle.events.attributes`); the resource's ``service.name`` names the app when a
record names no actor, and the resource's own ``sentinelle.*`` attributes are defaults for its
records. A record without ``sentinelle.*`` attributes is not about an access and is counted as
ignored, not refused: an app may export all its logs here. Only the mapped attributes are
kept; the body and every other attribute are dropped, so no personal data a log line may hold
reaches the ledger.

Partial success is OTLP's contract, and the right one here: a request carries many
independent records (an exporter's batch, a Collector's batch from several apps), and the
protocol lets a server keep the valid ones and report the others in ``partial_success``
(``rejected_log_records``, ``error_message``), which a client must not retry. Refusing the
whole request for one unmappable record would lose every valid access in it (an exporter drops
a batch refused with a 400), and a retryable status would only send the same bad record
again. A retry of a whole request after a lost answer stores nothing twice: each event's id is
``sentinelle.event_id`` or derived from the record (:func:`sentinelle.events.attributes
.access_event`), and ingest drops ids it holds.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec

from sentinelle.errors import ConfigError, Error
from sentinelle.events import AccessEvent
from sentinelle.events.attributes import PREFIX, AttributeMappingError, access_event
from sentinelle.timeutil import from_us

try:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsPartialSuccess,
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ConfigError(
        f"the OTLP receiver needs opentelemetry-proto: pip install 'sentinelle[api]' ({exc})"
    ) from None

__all__ = [
    "CONTENT_TYPES",
    "MAX_BODY_BYTES",
    "PATH",
    "Encoding",
    "Mapped",
    "OtlpRequestError",
    "Rejected",
    "decode",
    "decompress",
    "encoding_of",
    "export_response",
    "map_logs",
    "status_body",
]

#: Where OTLP exporters send logs: an exporter's base endpoint ``<sentinelle>/v1/otlp`` plus
#: the signal's path ``/v1/logs``, as the SDKs and the Collector append it.
PATH: Final = "/v1/otlp/v1/logs"
#: The largest body taken, compressed and after decompression alike (413 beyond): the Python
#: exporter's own default limit, and ``POST /v1/events``'.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024

Encoding = Literal["protobuf", "json"]
CONTENT_TYPES: Final[dict[Encoding, str]] = {
    "protobuf": "application/x-protobuf",
    "json": "application/json",
}
_MEDIA: Final[dict[str, Encoding]] = {v: k for k, v in CONTENT_TYPES.items()}
#: google.rpc.Code of each HTTP status this receiver answers with (the Status' ``code``).
_RPC_CODES: Final = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 503: 14}
_RPC_UNKNOWN: Final = 2
_LISTED: Final = 10  # rejected records named in error_message; the count has them all
_HEX: Final = re.compile(r"[0-9a-fA-F]*")
_ID_BYTES: Final = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8}
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
#: What an SDK names a service that was not given a name: never an actor.
_UNNAMED: Final = "unknown_service"


class OtlpRequestError(Error):
    """The request cannot be read: ``status`` is the HTTP status to answer (400: not OTLP,
    413: too large, 415: a content type or encoding OTLP/HTTP does not use)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record whose ``sentinelle.*`` attributes make no access event: where it is in the
    request (``resourceLogs[0].scopeLogs[0].logRecords[3]``), the attribute and why."""

    location: str
    attribute: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.attribute}: {self.message}"


@dataclass(slots=True)
class Mapped:
    """A request's records: the access events, how many records were about no access
    (``ignored``) and the records refused."""

    events: list[AccessEvent] = field(default_factory=list)
    ignored: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def encoding_of(content_type: str | None) -> Encoding:
    """The request's encoding from its ``Content-Type`` (parameters such as ``charset``
    ignored). Raises :class:`OtlpRequestError` (415) for any other type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    found = _MEDIA.get(media)
    if found is None:
        raise OtlpRequestError(
            415,
            f"Content-Type {media or '(none)'!r} is not OTLP/HTTP's: "
            "application/x-protobuf or application/json",
        )
    return found


def decompress(body: bytes, content_encoding: str | None, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body without its ``Content-Encoding`` (none, ``identity``, ``gzip`` or
    ``deflate``), never more than ``limit`` bytes of it. Raises :class:`OtlpRequestError`:
    415 for another encoding, 413 beyond ``limit``, 400 for a corrupt stream."""
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in ("gzip", "deflate"):
        raise OtlpRequestError(
            415, f"Content-Encoding {coding!r} is not supported: gzip, deflate or none"
        )
    out = bytearray()
    rest = body
    # gzip may hold several members back to back (RFC 1952): each is its own stream.
    while rest:
        inflater = zlib.decompressobj(_GZIP_WBITS if coding == "gzip" else zlib.MAX_WBITS)
        try:
            # Never more than the limit allows: a small body may inflate a thousandfold.
            out += inflater.decompress(rest, limit - len(out) + 1)
        except zlib.error as exc:
            raise OtlpRequestError(400, f"the body is not valid {coding} ({exc})") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise OtlpRequestError(413, f"the body inflates beyond {limit} bytes; send less")
        if not inflater.eof:
            raise OtlpRequestError(400, f"the body is not valid {coding} (truncated)")
        rest = inflater.unused_data if coding == "gzip" else b""
    return bytes(out)


def decode(body: bytes, encoding: Encoding) -> ExportLogsServiceRequest:
    """The ``ExportLogsServiceRequest`` of an uncompressed body. Raises
    :class:`OtlpRequestError` (400) saying why it is not one."""
    request = ExportLogsServiceRequest()
    if encoding == "protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpRequestError(
                400, f"not a protobuf ExportLogsServiceRequest ({exc})"
            ) from None
        return request
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise OtlpRequestError(400, f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise OtlpRequestError(400, "not an ExportLogsServiceRequest: the JSON is not an object")
    _base64_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise OtlpRequestError(400, f"not an ExportLogsServiceRequest ({exc})") from None
    return request


def _base64_ids(document: dict[str, Any]) -> None:
    """OTLP/JSON writes trace and span ids in hex where the proto3 JSON mapping (which
    ``json_format`` follows) wants base64: rewrite them in place. Raises
    :class:`OtlpRequestError` (400) for an id that is not hex of its length."""
    for r, resource in enumerate(_items(document, "resourceLogs", "resource_logs")):
        for s, scope in enumerate(_items(resource, "scopeLogs", "scope_logs")):
            for n, record in enumerate(_items(scope, "logRecords", "log_records")):
                for key in _ID_BYTES.keys() & record.keys():
                    value = record[key]
                    if not isinstance(value, str):
                        continue  # json_format names the wrong type
                    size = _ID_BYTES[key]
                    if not (_HEX.fullmatch(value) and len(value) in (0, 2 * size)):
                        where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{n}].{key}"
                        raise OtlpRequestError(
                            400, f"{where}: must be {2 * size} hex digits (or empty)"
                        )
                    record[key] = base64.b64encode(bytes.fromhex(value)).decode()


def _items(node: Any, *names: str) -> Iterable[dict[str, Any]]:
    if not isinstance(node, dict):
        return ()
    for name in names:
        found = node.get(name)
        if isinstance(found, list):
            return [item for item in found if isinstance(item, dict)]
    return ()


def map_logs(request: ExportLogsServiceRequest) -> Mapped:
    """The access events of a request's records, the records ignored and those refused."""
    mapped = Mapped()
    for r, resource_logs in enumerate(request.resource_logs):
        defaults, app = _resource(resource_logs.resource.attributes)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for n, record in enumerate(scope_logs.log_records):
                attributes: dict[str, object] = {}
                repeated = None
                for kv in record.attributes:
                    if kv.key.startswith(PREFIX):
                        if kv.key in attributes:
                            repeated = kv.key
                        attributes[kv.key] = _value(kv.value)
                if not attributes:
                    mapped.ignored += 1
                    continue
                try:
                    if repeated is not None:
                        raise AttributeMappingError(repeated, "repeated (each attribute once)")
                    nanos = record.time_unix_nano or record.observed_time_unix_nano
                    if not nanos:
                        raise AttributeMappingError(
                            "timeUnixNano", "missing (and no observedTimeUnixNano)"
                        )
                    event = access_event(
                        attributes,
                        time=from_us(nanos // 1000),
                        defaults=defaults,
                        app=app,
                        # The same record sent again gives the same id; two records that
                        # differ in time (to the nanosecond), trace or span do not.
                        salt=b"".join(
                            (nanos.to_bytes(8), record.trace_id, record.span_id, app.encode())
                        ),
                    )
                except AttributeMappingError as exc:
                    where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{n}]"
                    mapped.rejected.append(Rejected(where, exc.attribute, exc.message))
                    continue
                mapped.events.append(event)
    return mapped


def _resource(attributes: Iterable[KeyValue]) -> tuple[dict[str, object], str]:
    """A resource's ``sentinelle.*`` attributes (defaults for its records) and the app its
    ``service.name`` names (empty when none, or the SDKs' ``unknown_service``)."""
    defaults: dict[str, object] = {}
    app = ""
    for kv in attributes:
        if kv.key.startswith(PREFIX):
            defaults[kv.key] = _value(kv.value)
        elif kv.key == "service.name" and kv.value.WhichOneof("value") == "string_value":
            name = kv.value.string_value
            app = "" if name.startswith(_UNNAMED) else name
    return defaults, app


def _value(value: AnyValue) -> object:
    """An attribute's value as Python's (``None`` for an empty one)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def export_response(mapped: Mapped, encoding: Encoding, warnings: Sequence[str] = ()) -> bytes:
    """The ``ExportLogsServiceResponse``: ``partial_success`` when records were refused,
    counting them all and naming the first ten, or when what followed the batch left
    ``warnings`` (live detection's notes: OTLP lets a full success carry warnings in
    ``error_message`` with ``rejected_log_records`` 0); a full success without them leaves it
    unset, as OTLP asks."""
    response = ExportLogsServiceResponse()
    said = []
    if mapped.rejected:
        shown = "; ".join(str(r) for r in mapped.rejected[:_LISTED])
        more = len(mapped.rejected) - _LISTED
        said.append(
            f"{len(mapped.rejected)} log record(s) with sentinelle.* attributes "
            f"rejected, the others stored: {shown}" + (f"; and {more} more" if more > 0 else "")
        )
    said += (f"warning: {note}" for note in warnings)
    if said:
        response.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=len(mapped.rejected), error_message="; ".join(said)
            )
        )
    if encoding == "protobuf":
        return response.SerializeToString()
    return msgspec.json.encode(json_format.MessageToDict(response))


def status_body(status: int, message: str, encoding: Encoding) -> bytes:
    """A ``google.rpc.Status`` (``code``: the google.rpc.Code of the HTTP ``status``;
    ``message``), as OTLP/HTTP answers every 4xx and 5xx.

    Written by hand: two fields (``int32 code = 1; string message = 2``) do not justify a
    dependency on googleapis-common-protos; the tests decode it with that package.
    """
    code = _RPC_CODES.get(status, _RPC_UNKNOWN)
    if encoding == "json":
        return msgspec.json.encode({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
