"""The department data simulator: a small HTTP JSON server on loopback that answers the online
adapter like the departments would, with configurable latency and failures (banks slow).

POST /sources/{code}/query  body {"id_number": "…"} or {"person_index": "…"}
  → 200 {"source", "found", "records": [typed fields…], "as_of"}; 503 when a failure is simulated.
GET /health → 200 {"ok": true}
ID numbers travel only in request bodies; the log never prints them.

Data comes from a provider: `MemoryProvider` (records loaded up front: from the committed
snapshots or straight from the demo city's department files) or `DatabaseProvider` (looks up
the committed snapshot per request, for a large city).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ejia.core import crypto, idnumber
from ejia.verification.models import PERSON_INDEX_PURPOSE

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_BODY = 4096


class MemoryProvider:
    def __init__(
        self, records: dict[str, dict[str, list[dict]]], as_of: dict[str, str] | None = None, known=None
    ) -> None:
        self.records = records  # source code → person_index → [data]
        self.as_of = as_of or {}
        self.known = set(known or ()) | set(records)

    def sources(self) -> set[str]:
        return self.known

    def lookup(self, code: str, person_index: str) -> tuple[list[dict], str | None]:
        return self.records.get(code, {}).get(person_index, []), self.as_of.get(code)

    @classmethod
    def from_committed_snapshots(cls) -> MemoryProvider:
        from ejia.verification.models import DataSource, SourceRecord, SourceSnapshot

        records: dict[str, dict[str, list[dict]]] = {}
        as_of: dict[str, str] = {}
        rows = SourceRecord.objects.filter(snapshot__status=SourceSnapshot.Status.COMMITTED).values_list(
            "snapshot__source__code", "snapshot__committed_at", "person_index", "data"
        )
        for code, at, index, data in rows.iterator(chunk_size=5000):
            records.setdefault(code, {}).setdefault(index, []).append(data)
            as_of[code] = at.date().isoformat() if at else None
        return cls(records, as_of, known=DataSource.objects.values_list("code", flat=True))

    @classmethod
    def from_city_dir(cls, directory: Path) -> MemoryProvider:
        """Read the demo city's department exports (manifest.json) with the import validator."""
        from ejia.verification.files import open_table
        from ejia.verification.sources import source_columns
        from ejia.verification.validation import RowValidator

        directory = Path(directory)
        manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
        records: dict[str, dict[str, list[dict]]] = {}
        for entry in manifest["files"]:
            if not entry.get("file"):
                continue
            table = open_table(directory / entry["file"])
            validator = RowValidator.for_header(source_columns(entry["source"]), table.header)
            bucket = records.setdefault(entry["source"], {})
            for _number, cells in table.rows:
                row, _reasons = validator.validate(cells)
                if row is not None:
                    bucket.setdefault(row[0], []).append(json.loads(row[2]))
        as_of = {code: manifest.get("as_of") for code in records}
        return cls(records, as_of)


class DatabaseProvider:
    """Per-request lookups in the committed snapshots (the server process has its own connections)."""

    def sources(self) -> set[str]:
        from ejia.verification.models import DataSource

        return set(DataSource.objects.values_list("code", flat=True))

    def lookup(self, code: str, person_index: str) -> tuple[list[dict], str | None]:
        from django.db import close_old_connections

        from ejia.verification.models import SourceRecord, SourceSnapshot

        close_old_connections()
        rows = list(
            SourceRecord.objects.filter(
                snapshot__source__code=code, snapshot__status=SourceSnapshot.Status.COMMITTED, person_index=person_index
            ).values_list("data", "snapshot__committed_at")
        )
        as_of = rows[0][1].date().isoformat() if rows and rows[0][1] else None
        return [r[0] for r in rows], as_of


@dataclass
class Behaviour:
    latency_ms: int = 0
    failure_rate: float = 0.0
    slow: dict[str, int] = field(default_factory=dict)  # source code or prefix → extra ms
    fail_first: dict[str, int] = field(default_factory=dict)  # source → fail this many requests first
    seed: int | None = None

    def extra_ms(self, code: str) -> int:
        return sum(ms for key, ms in self.slow.items() if code == key or code.startswith(key + "_"))


def parse_pairs(text: str) -> dict[str, int]:
    """'bank=2000,yb=500' → {'bank': 2000, 'yb': 500}."""
    out = {}
    for item in (text or "").split(","):
        if item.strip():
            key, _, value = item.partition("=")
            out[key.strip()] = int(value)
    return out


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, provider, behaviour: Behaviour) -> None:
        super().__init__(address, _Handler)
        self.provider = provider
        self.behaviour = behaviour
        self.random = random.Random(behaviour.seed)
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.known = provider.sources()


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # the path never holds an ID; keep stderr quiet
        return

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"ok": True, "sources": sorted(self.server.known)})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "sources" or parts[2] != "query":
            self._send(404, {"error": "not found"})
            return
        code = parts[1]
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(400, {"error": "body required (at most 4 KB)"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            if body.get("person_index"):
                person_index = str(body["person_index"])
            else:
                person_index = crypto.blind_index(
                    idnumber.parse(body["id_number"]).number, purpose=PERSON_INDEX_PURPOSE
                )
        except (ValueError, KeyError, TypeError, AttributeError, idnumber.InvalidIdNumber):
            self._send(400, {"error": "id_number or person_index required"})
            return
        if code not in self.server.known:
            self._send(404, {"error": f"unknown source {code}"})
            return
        behaviour = self.server.behaviour
        with self.server.lock:
            seen = self.server.requests.get(code, 0)
            self.server.requests[code] = seen + 1
            fail = seen < behaviour.fail_first.get(code, 0) or self.server.random.random() < behaviour.failure_rate
        delay = (behaviour.latency_ms + behaviour.extra_ms(code)) / 1000
        if delay:
            time.sleep(delay)
        if fail:
            self._send(503, {"error": "simulated department outage"})
            return
        records, as_of = self.server.provider.lookup(code, person_index)
        self._send(200, {"source": code, "found": bool(records), "records": records, "as_of": as_of})


def make_server(provider, behaviour: Behaviour, *, host: str = "127.0.0.1", port: int = 0) -> SimulatorServer:
    if host not in LOOPBACK:
        raise ValueError("the simulator listens on loopback only")
    return SimulatorServer((host, port), provider, behaviour)


def start_in_thread(provider, behaviour: Behaviour) -> tuple[SimulatorServer, str]:
    server = make_server(provider, behaviour)
    threading.Thread(target=server.serve_forever, daemon=True, name="dept-simulator").start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
