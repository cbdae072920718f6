#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, derived from the golden OTLP fixtures.

    python3 fuzz/seed.py OUT_DIR

writes OUT_DIR/otlp_json/ (each fixture's request.json, as committed and compacted),
OUT_DIR/otlp_protobuf/ (the same requests encoded as OTLP protobuf) and OUT_DIR/gzip/ (a few
gzip bodies). The protobuf encoding needs the `opentelemetry-proto` Python package (the black-box
test venv has it); without it that directory is skipped. The committed corpus under
fuzz/corpus/ was grown from these seeds and then minimized with `cargo fuzz cmin`; this script
is only needed to re-seed it from scratch (see fuzz/README.md).
"""

import base64
import copy
import gzip
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "crates/ingest/tests/fixtures").glob("*/request.json"))
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def write(directory: pathlib.Path, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def hex_ids_to_base64(node):
    """OTLP/JSON spells ids in hex; protobuf's canonical JSON mapping wants base64 bytes."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    try:
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ImportError:
        ExportTraceServiceRequest = None
        print("opentelemetry-proto not installed: skipping otlp_protobuf seeds", file=sys.stderr)

    for i, path in enumerate(FIXTURES):
        raw = path.read_bytes()
        doc = json.loads(raw)
        compact = json.dumps(doc, separators=(",", ":")).encode()
        write(out / "otlp_json", raw)
        write(out / "otlp_json", compact)
        if ExportTraceServiceRequest is not None:
            proto_doc = copy.deepcopy(doc)
            hex_ids_to_base64(proto_doc)
            msg = json_format.ParseDict(proto_doc, ExportTraceServiceRequest())
            write(out / "otlp_protobuf", msg.SerializeToString())
        if i % 3 == 0:
            write(out / "gzip", gzip.compress(compact, mtime=0))
    write(out / "gzip", gzip.compress(b"", mtime=0))
    write(out / "gzip", gzip.compress(b"{}" * 40000, compresslevel=1, mtime=0))  # past the cap
    # normalize takes `arbitrary`-structured bytes; a few plain patterns start it off.
    for seed in (b"\x00" * 64, b"\x01" * 256, bytes(range(256)) * 4):
        write(out / "normalize", seed)


if __name__ == "__main__":
    main()
