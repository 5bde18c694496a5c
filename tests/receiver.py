"""A real HTTP endpoint standing in for a target system that takes webhook changes.

It honours the Idempotency-Key contract (a repeat is acknowledged, not applied
twice) and can be told to fail, to check retries and dead letters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from flask import Flask, request
from werkzeug.serving import make_server


@dataclass
class Receiver:
    url: str = ""
    changes: dict[str, dict] = field(default_factory=dict)  # idempotency key -> body
    requests: int = 0
    fail_with: int | None = None  # answer this status instead of taking the change
    delay: float = 0.0
    headers: list[dict] = field(default_factory=list)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hook")
        def hook():
            self.requests += 1
            self.headers.append(dict(request.headers))
            if self.delay:
                time.sleep(self.delay)
            if self.fail_with:
                return {"error": "refused"}, self.fail_with
            self.changes.setdefault(request.headers["Idempotency-Key"], request.get_json())
            return {"ok": True}

        return app


def serve(receiver: Receiver):
    server = make_server("127.0.0.1", 0, receiver.app(), threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server
