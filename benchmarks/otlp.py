"""OpenTelemetry logs through the OTLP/HTTP receiver against ``POST /v1/events``: records per
second, in process (the API app under Starlette's TestClient, SQLite, a fresh store per run).

The workload is what an app's OTLP exporter sends: batches of 512 log records (the Python
SDK's default batch), each record an access with the ``sentinelle.*`` attributes of a support
console's view (actor, merchant, action, categories, channel, customer, ticket) plus what the
logging bridge adds (code file, function and line) and a message. The baseline posts the very
same access events (the receiver's own mapping of those records, ids included) as JSON arrays
of 512 to ``POST /v1/events``: the difference is what reading OTLP costs (protobuf decoding,
the mapping, and the events' JSON encoding before ingest decodes it again); both routes then
run the same ingest and live detection.

    .venv/bin/python benchmarks/otlp.py                       # 20,480 records, best of 3
    .venv/bin/python benchmarks/otlp.py --records 5120 --rounds 1 --json

The records are dated within live detection's reorder window, as live logs are, so both
routes store them and leave them to detection's later run. The script also times reading OTLP
alone, in process and without a store (decoding, mapping, encoding each event as ingest takes
it): the receiver's own cost per record.

``--json`` also sends the requests as OTLP/JSON; ``--noise 0.5`` makes half the records plain
logs without ``sentinelle.*`` attributes (ignored), as an app sending all its logs would.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from pathlib import Path

import msgspec
from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.connectors.otlp import PATH, decode, map_logs
from sentinelle.events import canonical

BATCH = 512
CATEGORIES = ["contact", "address", "order_details", "payment_partial"]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, list):
        values = [AnyValue(string_value=str(v)) for v in value]
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=values)))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def requests(records: int, noise: float, seed: int = 7) -> list[ExportLogsServiceRequest]:
    """``records`` log records in requests of :data:`BATCH`, dated over the last two minutes:
    live logs, which live detection holds for its reorder window (5 minutes) before it reads
    them, so the runs time receiving and storing, not the detectors."""
    rng = random.Random(seed)
    start_ns = time.time_ns() - 120 * 10**9
    step = 120 * 10**9 // max(records, 1)
    found = []
    for first in range(0, records, BATCH):
        log_records = []
        for n in range(first, min(first + BATCH, records)):
            common = [
                _kv("code.file.path", "/srv/console/views/customers.py"),
                _kv("code.function.name", "customer_detail"),
                _kv("code.line.number", 212),
            ]
            if rng.random() < noise:
                attributes = common
                body = f"GET /health 200 in {rng.randrange(1, 30)} ms"
            else:
                agent = rng.randrange(200)
                attributes = [
                    _kv("sentinelle.actor.id", f"agent-{agent}"),
                    _kv("sentinelle.actor.team", f"tier{agent % 3 + 1}"),
                    _kv("sentinelle.merchant", f"m-{rng.randrange(500)}"),
                    _kv("sentinelle.action", "view"),
                    _kv("sentinelle.data", rng.sample(CATEGORIES, 2)),
                    _kv("sentinelle.channel", "support_console"),
                    _kv("sentinelle.customers", [f"c-{rng.randrange(10**6)}"]),
                    _kv("sentinelle.ticket", f"T-{rng.randrange(10**5)}"),
                    *common,
                ]
                body = f"agent-{agent} opened a customer's profile"
            log_records.append(
                LogRecord(
                    time_unix_nano=start_ns + n * step,
                    observed_time_unix_nano=start_ns + n * step + 1000,
                    severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
                    severity_text="INFO",
                    body=AnyValue(string_value=body),
                    attributes=attributes,
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                )
            )
        service = _kv("service.name", "support-console")
        found.append(
            ExportLogsServiceRequest(
                resource_logs=[
                    ResourceLogs(
                        resource=Resource(attributes=[service]),
                        scope_logs=[ScopeLogs(log_records=log_records)],
                    )
                ]
            )
        )
    return found


def otlp_json(request: ExportLogsServiceRequest) -> bytes:
    """The request as OTLP/JSON: the proto3 JSON mapping, with trace and span ids in hex."""
    doc = json_format.MessageToDict(request)
    for resource, sent in zip(doc["resourceLogs"], request.resource_logs, strict=True):
        for scope, sent_scope in zip(resource["scopeLogs"], sent.scope_logs, strict=True):
            for record, sent_record in zip(
                scope["logRecords"], sent_scope.log_records, strict=True
            ):
                record["traceId"] = sent_record.trace_id.hex()
                record["spanId"] = sent_record.span_id.hex()
    return msgspec.json.encode(doc)


def reading(bodies: list[bytes], rounds: int) -> float:
    """Best seconds to decode and map every protobuf body and encode its events."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for body in bodies:
            for event in map_logs(decode(body, "protobuf")).events:
                canonical(event)
        best = min(best, time.perf_counter() - started)
    return best


def run(bodies: list[bytes], path: str, content_type: str) -> tuple[float, int]:
    """Seconds to post every body to ``path`` on a fresh SQLite store; events stored."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(_env_file=None, data_dir=Path(tmp) / "data"))
        with TestClient(app) as client:
            store = app.state.sentinelle.store
            key = create_key(store, name="bench", role=Role.INGEST, by="bench")
            headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
            gc.collect()
            started = time.perf_counter()
            for body in bodies:
                response = client.post(path, content=body, headers=headers)
                assert response.status_code == 200, response.text[:300]
            elapsed = time.perf_counter() - started
            stored = store.ledger_size()
    return elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=40 * BATCH)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many")
    parser.add_argument("--noise", type=float, default=0.0, help="share of plain log records")
    parser.add_argument("--json", action="store_true", help="also OTLP/JSON")
    args = parser.parse_args()

    made = requests(args.records, args.noise)
    protobuf = [r.SerializeToString() for r in made]
    events = [map_logs(r).events for r in made]
    baseline = [msgspec.json.encode(batch) for batch in events]
    accesses = sum(len(batch) for batch in events)
    cases = [
        ("POST /v1/events (baseline)", baseline, "/v1/events", "application/json"),
        ("OTLP protobuf", protobuf, PATH, "application/x-protobuf"),
    ]
    if args.json:
        as_json = [otlp_json(r) for r in made]
        cases.append(("OTLP JSON", as_json, PATH, "application/json"))
    size = {name: sum(map(len, bodies)) for name, bodies, _, _ in cases}
    print(
        f"{args.records:,} log records ({accesses:,} accesses) in {len(made)} requests of "
        f"{BATCH}; SQLite; best of {args.rounds}"
    )
    best: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved: a noisy host slows every case alike
        for name, bodies, path, content_type in cases:
            elapsed, stored = run(bodies, path, content_type)
            assert stored == accesses, (name, stored, accesses)
            best[name] = min(best.get(name, float("inf")), elapsed)
    base = best[cases[0][0]]
    for name, _, _, _ in cases:
        seconds = best[name]
        print(
            f"{name:28} {args.records / seconds:9,.0f} records/s  {accesses / seconds:9,.0f} "
            f"events/s  {seconds:6.2f} s  {size[name] / 2**20:6.1f} MiB  x{base / seconds:.2f}"
        )
    alone = reading(protobuf, args.rounds)
    print(
        f"reading OTLP protobuf alone (decode, map, encode; no store): {args.records / alone:,.0f} records/s"
    )


if __name__ == "__main__":
    main()
