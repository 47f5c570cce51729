"""JSON-lines control port of a simulated bench, and a client for it.

One JSON object per line each way. Requests::

    {"op": "addresses"}
    {"op": "peek", "instrument": "pile", "observable": "display_energy"}
    {"op": "act", "instrument": "ea", "action": "analyze", "kwargs": {"sample_id": "S1", ...}}
    {"op": "inject_fault", "instrument": "analyzer", "kind": "no_reply", "duration_s": 30}
    {"op": "clear_fault", "instrument": "analyzer"}
    {"op": "time"}                 → {"now": <simulated s>, "datetime": "<ISO 8601 UTC>"}
    {"op": "snapshot"}             → what the instruments remember (JSON)
    {"op": "restore", "state": {...}}

Replies: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. A
Quantity travels as ``{"quantity": "12.345 kilowatt_hour"}``.
"""

from __future__ import annotations

import datetime
import json
import socket
import socketserver
import threading
from typing import Any

from drivers.units import parse_quantity, ureg

__all__ = ["ControlServer", "SimControlClient"]


def _encode(value: Any) -> Any:
    if isinstance(value, ureg.Quantity):
        return {"quantity": f"{value.magnitude!r} {value.units}"}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"quantity"}:
        return parse_quantity(value["quantity"])
    return value


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                reply = {"ok": True, "result": _encode(self.server.dispatch(json.loads(raw)))}
            except Exception as exc:  # every failure goes back to the caller as a message
                reply = {"ok": False, "error": str(exc).strip("'\"")}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class ControlServer(socketserver.ThreadingTCPServer):
    """Serves a :class:`~drivers.sim.simbench.SimulatedBench`'s control operations."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, bench: Any, port: int = 0) -> None:
        self.bench = bench
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = int(self.server_address[1])
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def dispatch(self, request: dict[str, Any]) -> Any:
        """Execute one request."""
        op = request.get("op")
        b = self.bench
        if op == "addresses":
            return dict(b.addresses)
        if op == "peek":
            return b.peek(request["instrument"], request["observable"])
        if op == "act":
            return b.act(request["instrument"], request["action"], **request.get("kwargs", {}))
        if op == "inject_fault":
            return b.inject_fault(
                request["instrument"],
                request["kind"],
                request.get("duration_s"),
                request.get("delay_s", 2.0),
            )
        if op == "clear_fault":
            return b.clear_fault(request["instrument"])
        if op == "time":
            now, when = b.time()
            return {"now": now, "datetime": when.isoformat()}
        if op == "snapshot":
            return b.snapshot()
        if op == "restore":
            return b.restore(request["state"])
        raise ValueError(f"unknown op {op!r}")

    def start(self) -> None:
        """Serve in a thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop and close the port."""
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class SimControlClient:
    """Drive a bench served by another process through its control port (``host:port``)."""

    def __init__(self, address: str, timeout_s: float = 5.0) -> None:
        host, _, port = address.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self._file = self._sock.makefile("rwb")
        self._lock = threading.Lock()

    def _call(self, **request: Any) -> Any:
        with self._lock:
            self._file.write(json.dumps(request).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        if not line:
            raise ConnectionError("simulator control port closed")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        result = _decode(reply["result"])
        if isinstance(result, dict):
            return {k: _decode(v) for k, v in result.items()}
        return result

    def addresses(self) -> dict[str, str]:
        """Resource address of every instrument."""
        result: dict[str, str] = self._call(op="addresses")
        return result

    def peek(self, instrument: str, observable: str) -> Any:
        """See :meth:`SimulatedBench.peek`."""
        return self._call(op="peek", instrument=instrument, observable=observable)

    def act(self, instrument: str, action: str, **kwargs: Any) -> Any:
        """See :meth:`SimulatedBench.act` (keyword values must be JSON: use strings)."""
        return self._call(op="act", instrument=instrument, action=action, kwargs=kwargs)

    def inject_fault(
        self, instrument: str, kind: str, duration_s: float | None = None, delay_s: float = 2.0
    ) -> None:
        """See :meth:`SimulatedBench.inject_fault`."""
        self._call(
            op="inject_fault",
            instrument=instrument,
            kind=kind,
            duration_s=duration_s,
            delay_s=delay_s,
        )

    def clear_fault(self, instrument: str) -> None:
        """See :meth:`SimulatedBench.clear_fault`."""
        self._call(op="clear_fault", instrument=instrument)

    def time(self) -> tuple[float, datetime.datetime]:
        """(simulated seconds, simulated date and time UTC) of the bench's clock."""
        result = self._call(op="time")
        return float(result["now"]), datetime.datetime.fromisoformat(result["datetime"])

    def snapshot(self) -> dict[str, Any]:
        """See :meth:`SimulatedBench.snapshot`."""
        result: dict[str, Any] = self._call(op="snapshot")
        return result

    def restore(self, state: dict[str, Any]) -> None:
        """See :meth:`SimulatedBench.restore`."""
        self._call(op="restore", state=state)

    def close(self) -> None:
        """Close the connection."""
        self._file.close()
        self._sock.close()
