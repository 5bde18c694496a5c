"""A real SCIM 2.0 server on 127.0.0.1 for the ent_kosmos tests and benchmark: scim2-server (PyPI) served by werkzeug.

What it implements (scim2-server 0.8, in memory): /Users and /Groups with POST, GET (by id, and
search with filters, sorting, paging), PUT, PATCH (add/replace/remove, value filters) and DELETE;
/Bulk (advertised in /ServiceProviderConfig, maxOperations 1000); /Schemas and /ResourceTypes for
discovery; ``userName`` uniqueness (409 ``uniqueness``), schema validation (400 ``invalidValue``…);
ETags. It serves the RFC 7643 schemas plus the hub's extension schemas
(plugins/ent_kosmos/hub_schemas.json), as a Kosmos ENT configured for the hub would.

The test double's own contract, around the real server: `Faults` answers an error or sleeps for
requests whose method and path match (5xx, 400, 409, a timeout), and ``forget()`` drops every
resource, as an ENT that lost its data; `Timing` adds up the seconds spent inside the server.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from scim2_models import ResourceType, Schema, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config
from werkzeug.serving import WSGIRequestHandler, make_server

import plugins.ent_kosmos

HUB_SCHEMAS = Path(plugins.ent_kosmos.__file__).with_name("hub_schemas.json")
TOKEN = "test-token"


@dataclass
class Fault:
    method: str
    path: str  # a regular expression matched against the path (…/v2/Users/<id>)
    status: int = 500
    body: dict | None = None
    sleep: float = 0.0
    times: int | None = None  # None: every time


@dataclass
class Faults:
    """WSGI middleware: the first matching fault answers instead of the server (or sleeps, then lets it answer)."""

    app: object
    faults: list[Fault] = field(default_factory=list)
    hits: int = 0
    busy: int = 0  # requests being answered now
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        with self._lock:
            self.busy += 1
        try:
            return self._answer(environ, start_response)
        finally:
            with self._lock:
                self.busy -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no request is being answered: one its client gave up on (a timeout) still runs to its end, as
        at a real ENT. (In this process, it would also parse models while the hub does: CPython 3.11.7 can then
        fail every later ``ast.parse`` of the process, gh-106905.)"""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.busy, f"{self.busy} request(s) still being answered after {timeout} s"

    def _answer(self, environ, start_response):
        for fault in list(self.faults):
            if environ["REQUEST_METHOD"] == fault.method and re.search(fault.path, environ["PATH_INFO"]):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                self.hits += 1
                if fault.sleep:
                    time.sleep(fault.sleep)
                    break
                body = json.dumps(fault.body or {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                                 "status": str(fault.status), "detail": "injected fault"})
                start_response(f"{fault.status} Fault", [("Content-Type", "application/scim+json")])
                return [body.encode()]
        return list(self.app(environ, start_response))  # the body built here, while counted busy


@dataclass
class Timing:
    """WSGI middleware: seconds spent answering, and requests answered (the body is built inside the call)."""

    app: object
    seconds: float = 0.0
    requests: int = 0

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            return list(self.app(environ, start_response))
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1


def provider(bulk: bool = True) -> ScimProvider:
    schemas = list(load_default_schemas().values())
    schemas += [Schema.model_validate(s) for s in json.loads(HUB_SCHEMAS.read_text())]
    types = load_default_resource_types()
    user, group = types["User"].model_dump(), types["Group"].model_dump()
    user["schemaExtensions"].append({"schema": "urn:ent-hub:params:scim:schemas:extension:hub:2.0:User",
                                     "required": False})
    group["schemaExtensions"] = [{"schema": "urn:ent-hub:params:scim:schemas:extension:hub:2.0:Group",
                                  "required": False}]
    config = load_default_service_provider_config()
    config.bulk.supported = bulk
    config.filter.max_results = 10000
    config.authentication_schemes = [BEARER_TOKEN_SCHEME]
    return ScimProvider.from_discovery(schemas, [ResourceType.model_validate(user),
                                                 ResourceType.model_validate(group)], config=config)


@dataclass
class ScimServer:
    url: str
    storage: InMemoryStorage
    faults: Faults
    timing: Timing
    server: object

    def forget(self) -> None:
        """Lose every resource, as an ENT restored from an empty backup."""
        self.storage.resources = []

    def stop(self) -> None:
        self.server.shutdown()


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # thousands of requests per test
        pass


def serve(*, bulk: bool = True, token: str = TOKEN) -> ScimServer:
    storage = InMemoryStorage()
    scim = provider(bulk)
    app = BearerTokenApplication(storage, scim, ScimService(scim, secret="test"), bearer_tokens=[token])
    faults = Faults(app)
    timing = Timing(faults)
    server = make_server("127.0.0.1", 0, timing, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return ScimServer(f"http://127.0.0.1:{server.server_port}/v2", storage, faults, timing, server)
