"""The OTLP/HTTP logs receiver's parts: content types and encodings, decompression within the
limit, protobuf and OTLP/JSON decoding, the mapping of records (ignored, refused, stored) and
the answers (``ExportLogsServiceResponse``, ``google.rpc.Status``, decoded with the
googleapis package the exporter ships with)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sentinelle.connectors.otlp import (
    Mapped,
    OtlpRequestError,
    decode,
    decompress,
    encoding_of,
    export_response,
    map_logs,
    status_body,
)

NANOS = 1_795_000_000_123_456_789  # 2026-11-18T11:06:40.123456789Z
ACCESS = {
    "sentinelle.actor.id": "s-alice",
    "sentinelle.merchant": "m-1",
    "sentinelle.action": "view",
    "sentinelle.data": ["contact", "address"],
    "sentinelle.channel": "support_console",
}


def value(v: object) -> AnyValue:
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    raise TypeError(v)


def record(attributes: Mapping[str, object], *, nanos: int = NANOS, body: str = "") -> LogRecord:
    return LogRecord(
        time_unix_nano=nanos,
        observed_time_unix_nano=nanos + 5,
        body=AnyValue(string_value=body),
        attributes=[KeyValue(key=k, value=value(v)) for k, v in attributes.items()],
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
    )


def request(
    *records: LogRecord, resource: Mapping[str, object] | None = None
) -> ExportLogsServiceRequest:
    attributes = [KeyValue(key=k, value=value(v)) for k, v in (resource or {}).items()]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=attributes),
                scope_logs=[ScopeLogs(log_records=list(records))],
            )
        ]
    )


# -- content types and encodings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
    ],
)
def test_otlp_content_types(header: str, expected: str) -> None:
    assert encoding_of(header) == expected


@pytest.mark.parametrize(
    "header", [None, "", "text/plain", "application/protobuf", "application/x-ndjson"]
)
def test_other_content_types_are_415(header: str | None) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        encoding_of(header)
    assert caught.value.status == 415 and "application/x-protobuf" in caught.value.message


def test_gzip_deflate_and_none() -> None:
    body = b"x" * 1000
    assert decompress(body, None) == body == decompress(body, "identity")
    assert decompress(gzip.compress(body), "gzip") == body
    assert decompress(gzip.compress(body[:10]) + gzip.compress(body[10:]), "GZIP") == body
    assert decompress(zlib.compress(body), "deflate") == body


@pytest.mark.parametrize(
    ("body", "coding", "status", "words"),
    [
        (b"x", "br", 415, "'br' is not supported"),
        (b"not gzip at all", "gzip", 400, "not valid gzip"),
        (gzip.compress(b"x" * 100)[:-12], "gzip", 400, "truncated"),
        (zlib.compress(b"x" * 100) + b"\x00", "gzip", 400, "not valid gzip"),
        (gzip.compress(b"\x00" * 1001), "gzip", 413, "inflates beyond 1000 bytes"),
        (zlib.compress(b"\x00" * 1001), "deflate", 413, "inflates beyond 1000 bytes"),
        (gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600), "gzip", 413, "beyond"),
    ],
    ids=["br", "not-gzip", "truncated", "zlib-as-gzip", "gzip-bomb", "deflate-bomb", "members"],
)
def test_bad_or_too_large_streams(body: bytes, coding: str, status: int, words: str) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decompress(body, coding, limit=1000)
    assert caught.value.status == status and words in caught.value.message


def test_the_limit_itself_is_taken() -> None:
    assert decompress(gzip.compress(b"\x00" * 1000), "gzip", limit=1000) == b"\x00" * 1000


# -- decoding ----------------------------------------------------------------------------------


def test_protobuf_round_trip() -> None:
    sent = request(record(ACCESS))
    assert decode(sent.SerializeToString(), "protobuf") == sent


@pytest.mark.parametrize(
    "body", [b"\xff\xff\xff", b"\x0a\x05ab", bytes(range(256))], ids=["junk", "truncated", "bytes"]
)
def test_bad_protobuf_is_400(body: bytes) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decode(body, "protobuf")
    assert (
        caught.value.status == 400 and "protobuf ExportLogsServiceRequest" in caught.value.message
    )


def otlp_json(records: list[dict[str, Any]], camel: bool = True) -> bytes:
    if camel:
        doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}
    else:
        doc = {"resource_logs": [{"scope_logs": [{"log_records": records}]}]}
    return msgspec.json.encode(doc)


def _deep_value(depth: int) -> dict[str, Any]:
    found: dict[str, Any] = {"stringValue": "x"}
    for _ in range(depth):
        found = {"kvlistValue": {"values": [{"key": "k", "value": found}]}}
    return found


def test_otlp_json_hex_ids_string_integers_and_integer_enums() -> None:
    body = otlp_json(
        [
            {
                "timeUnixNano": str(NANOS),
                "severityNumber": 9,
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174",
                "body": {"stringValue": "viewed Jane Doe"},
                "attributes": [
                    {"key": "sentinelle.resource.count", "value": {"intValue": "3"}},
                    {"key": "x", "value": {"kvlistValue": {"values": []}}},
                ],
                "aFieldFromTheFuture": {"ignored": True},
            }
        ]
    )
    decoded = decode(body, "json")
    rec = decoded.resource_logs[0].scope_logs[0].log_records[0]
    assert rec.time_unix_nano == NANOS and rec.severity_number == 9
    assert rec.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert rec.span_id.hex() == "eee19b7ec3c1b174"
    assert rec.attributes[0].value.int_value == 3


def test_otlp_json_original_field_names_are_taken_too() -> None:
    body = otlp_json([{"time_unix_nano": NANOS, "trace_id": "00" * 16}], camel=False)
    rec = decode(body, "json").resource_logs[0].scope_logs[0].log_records[0]
    assert rec.time_unix_nano == NANOS and rec.trace_id == bytes(16)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "not an object"),
        (b'{"resourceLogs": 5}', "not an ExportLogsServiceRequest"),
        (otlp_json([{"timeUnixNano": "soon"}]), "not an ExportLogsServiceRequest"),
        (otlp_json([{"traceId": "xyz"}]), "logRecords[0].traceId: must be 32 hex digits"),
        (otlp_json([{"spanId": "00" * 16}]), "logRecords[0].spanId: must be 16 hex digits"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"resourceLogs": [' * 5000 + b"]}" * 5000, "not valid JSON"),
        (otlp_json([{"attributes": [{"key": "k", "value": _deep_value(200)}]}]), "not an Export"),
    ],
    ids=[
        "truncated",
        "array",
        "wrong-type",
        "bad-int",
        "bad-trace",
        "bad-span",
        "deep",
        "deep-obj",
        "deep-kvlist",
    ],
)
def test_bad_json_is_400(body: bytes, words: str) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decode(body, "json")
    assert caught.value.status == 400 and words in caught.value.message


def test_an_empty_request_is_fine() -> None:
    assert map_logs(decode(b"", "protobuf")) == Mapped()
    assert map_logs(decode(b"{}", "json")) == Mapped()


# -- mapping -----------------------------------------------------------------------------------


def test_records_mapped_ignored_and_rejected() -> None:
    mapped = map_logs(
        request(
            record(ACCESS, body="Viewed Jane Doe, jane@example.com"),
            record({"http.route": "/health"}),  # no sentinelle.*: ignored
            record({**ACCESS, "sentinelle.action": "peek"}),
            record({**ACCESS, "sentinelle.customers": ["c-1"]}, nanos=0),  # observed time used
        )
    )
    assert mapped.ignored == 1
    assert [str(r) for r in mapped.rejected] == [
        "resourceLogs[0].scopeLogs[0].logRecords[2]: sentinelle.action: Invalid enum value 'peek'"
    ]
    first, second = mapped.events
    assert first.actor.id == "s-alice" and first.data == ["contact", "address"]
    assert first.time.microsecond == 123456  # nanoseconds cut to microseconds
    assert second.subjects == ["c-1"]
    assert "Jane" not in msgspec.json.encode(mapped.events).decode()


def test_the_resource_names_the_app_and_gives_defaults() -> None:
    resource = {"service.name": "billing-sync", "sentinelle.merchant": "m-9", "host.name": "h1"}
    app_access = {"sentinelle.action": "export", "sentinelle.data": ["financial"]}
    mapped = map_logs(request(record(app_access), resource=resource))
    (event,) = mapped.events
    assert (event.actor.id, event.actor.kind, event.channel) == ("billing-sync", "app", "api")
    assert event.merchant == "m-9"


def test_an_unnamed_service_is_no_actor() -> None:
    app_access = {**ACCESS}
    del app_access["sentinelle.actor.id"]
    mapped = map_logs(
        request(record(app_access), resource={"service.name": "unknown_service:python"})
    )
    assert [r.attribute for r in mapped.rejected] == ["sentinelle.actor.id"]


def test_a_repeated_attribute_or_no_time_is_rejected() -> None:
    repeated = record(ACCESS)
    repeated.attributes.append(KeyValue(key="sentinelle.merchant", value=value("m-2")))
    timeless = record(ACCESS, nanos=0)
    timeless.observed_time_unix_nano = 0
    mapped = map_logs(request(repeated, timeless))
    assert [(r.attribute, r.message) for r in mapped.rejected] == [
        ("sentinelle.merchant", "repeated (each attribute once)"),
        ("timeUnixNano", "missing (and no observedTimeUnixNano)"),
    ]


def test_a_bad_resource_default_rejects_its_records_by_name() -> None:
    mapped = map_logs(request(record(ACCESS), resource={"sentinelle.tenant": "m-1"}))
    assert [r.attribute for r in mapped.rejected] == ["sentinelle.tenant"]


def test_ids_are_stable_across_sends_and_tell_records_apart() -> None:
    sent = request(record(ACCESS), record(ACCESS, nanos=NANOS + 1))
    again = decode(sent.SerializeToString(), "protobuf")
    first = [e.id for e in map_logs(sent).events]
    assert first == [e.id for e in map_logs(again).events]
    assert len(set(first)) == 2  # one nanosecond apart: two accesses
    other_trace = record(ACCESS)
    other_trace.trace_id = bytes(16)
    assert map_logs(request(other_trace)).events[0].id not in first
    explicit = map_logs(request(record({**ACCESS, "sentinelle.event_id": "acc-1"})))
    assert explicit.events[0].id == "acc-1"


# -- answers -----------------------------------------------------------------------------------


def test_a_full_success_leaves_partial_success_unset() -> None:
    mapped = map_logs(request(record(ACCESS)))
    assert export_response(mapped, "protobuf") == b""
    assert msgspec.json.decode(export_response(mapped, "json")) == {}
    sent = ExportLogsServiceResponse.FromString(export_response(mapped, "protobuf"))
    assert not sent.HasField("partial_success")


def test_warnings_on_a_full_success_reject_nothing() -> None:
    mapped = map_logs(request(record(ACCESS)))
    notes = ["3 events arrived late", "detectors failed"]
    sent = ExportLogsServiceResponse.FromString(export_response(mapped, "protobuf", notes))
    assert sent.partial_success.rejected_log_records == 0
    assert sent.partial_success.error_message == (
        "warning: 3 events arrived late; warning: detectors failed"
    )
    as_json = msgspec.json.decode(export_response(mapped, "json", notes))
    assert as_json == {"partialSuccess": {"errorMessage": sent.partial_success.error_message}}


def test_partial_success_counts_every_rejection_and_names_ten() -> None:
    bad = [record({**ACCESS, "sentinelle.action": f"a{i}"}) for i in range(12)]
    mapped = map_logs(request(record(ACCESS), *bad))
    response = ExportLogsServiceResponse.FromString(export_response(mapped, "protobuf"))
    assert response.partial_success.rejected_log_records == 12
    message = response.partial_success.error_message
    assert message.startswith("12 log record(s) with sentinelle.* attributes rejected")
    assert "logRecords[10]: sentinelle.action" in message and "logRecords[11]" not in message
    assert message.endswith("; and 2 more")
    as_json = msgspec.json.decode(export_response(mapped, "json"))
    assert as_json["partialSuccess"]["rejectedLogRecords"] == "12"  # int64: a string
    assert as_json["partialSuccess"]["errorMessage"] == message
    assert (
        json_format.Parse(export_response(mapped, "json"), ExportLogsServiceResponse()) == response
    )


@pytest.mark.parametrize(
    ("status", "code"), [(400, 3), (401, 16), (403, 7), (413, 3), (415, 3), (503, 14), (418, 2)]
)
def test_status_messages_decode_with_googleapis(status: int, code: int) -> None:
    message = "what went wrong: é" * 20  # a length that needs two varint bytes
    decoded = Status.FromString(status_body(status, message, "protobuf"))
    assert (decoded.code, decoded.message) == (code, message)
    as_json = status_body(status, message, "json")
    assert json_format.Parse(as_json, Status()) == decoded
