"""The console's read-only JSON API under ``/api/``, described by the OpenAPI document at ``/api/openapi.json``.

Same session and roles as the console (log in at ``/admin/login``; every call needs
the viewer role). Answers are pydantic models: the document's schemas are theirs,
so what is served is what is documented. Changes go through the console's forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, Field, ValidationError
from pydantic.json_schema import models_json_schema

from hub.web import queries
from hub.web.guard import before_request, hub, indicator_snapshot, require, security_headers

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(before_request)
bp.after_request(security_headers)


class Run(BaseModel):
    id: int
    action: str
    source: str | None
    trigger: str
    status: str
    dry_run: bool
    forced: bool
    started_at: datetime
    finished_at: datetime | None
    records_read: int
    message: str | None


class RunProgress(BaseModel):
    id: int
    status: str
    running: bool = Field(description="true while the run reads, plans or applies")
    records_read: int = Field(description="so far, while it runs: reported about once a second")
    phase: str | None = Field(description='what a running sync is doing: "reading aaf", "planning", "applying"')


class Event(BaseModel):
    level: str
    record: str
    key: str
    reason: str


class RunDetail(BaseModel):
    run: Run
    counts: dict[str, Any]
    events: list[Event] = Field(description="the first 500")


class DeadLetter(BaseModel):
    id: int
    target: str
    op: str
    entity: str
    key: str
    attempts: int
    last_error: str | None = Field(description="the target's own words")


class Lock(BaseModel):
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    holder_alive: bool | None = Field(description="null: held from another machine")


class Job(BaseModel):
    name: str
    action: str
    source: str | None
    cron: str
    next_run: datetime | None


class Plugin(BaseModel):
    name: str
    version: str
    hooks: list[str]
    healthy: bool | None = Field(description="null: the plugin has no health check")
    detail: str


class PersonFound(BaseModel):
    person_key: str
    kind: str
    ine: str | None
    last_name: str
    first_name: str
    uai: str | None
    status: str


class EstablishmentFound(BaseModel):
    uai: str
    name: str
    kind: str
    commune: str


class SearchResult(BaseModel):
    people: list[PersonFound]
    establishments: list[EstablishmentFound]


class Rate(BaseModel):
    scope: str = Field(description="a UAI, or a département code")
    name: str
    profile: str = Field(description='a person kind, or "all"')
    accounts: int
    activated: int
    active_users: int
    rate: float


class WeekRate(BaseModel):
    week: str = Field(description="the Monday starting the week, YYYY-MM-DD")
    rate: float


class WeeklyRates(BaseModel):
    profile: str = Field(description='a person kind, or "all"')
    weeks: list[WeekRate]


class Error(BaseModel):
    error: str


class RunsQuery(BaseModel):
    limit: int = Field(50, ge=1, le=500)
    action: str | None = Field(None, max_length=20)
    status: str | None = Field(None, max_length=20)


class SearchQuery(BaseModel):
    q: str = Field(min_length=2, max_length=100)


class IndicatorsQuery(BaseModel):
    by: str = Field("departement", pattern="^(establishment|departement)$")
    weeks: int = Field(12, ge=1, le=104)


class WeeklyQuery(IndicatorsQuery):
    scope: str | None = Field(None, max_length=8, description="a UAI or a département code; none: everywhere")


def _args(model: type[BaseModel]):
    return model.model_validate(request.args.to_dict())


def _bad_request(exc: ValidationError):
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return jsonify(error=problems), 400


bp.register_error_handler(ValidationError, _bad_request)


def _many(model: type[BaseModel], rows) -> list[dict]:
    return [model.model_validate(row, from_attributes=True).model_dump(mode="json") for row in rows]


@bp.get("/runs")
@require("viewer")
def runs():
    query = _args(RunsQuery)
    with hub().engine.connect() as conn:
        rows = queries.runs(conn, limit=query.limit, action=query.action, status=query.status)
    return jsonify(_many(Run, rows))


@bp.get("/runs/<path:run_id>")
@require("viewer")
def run(run_id: str):
    if not run_id.isascii() or not run_id.isdigit():
        return jsonify(error=f"run id {run_id!r} is not a number"), 400
    with hub().engine.connect() as conn:
        row = queries.run_row(conn, int(run_id)) if int(run_id) < 2**31 else None  # past what the column holds
        if row is None:
            return jsonify(error=f"no run {run_id}"), 404
        events = queries.run_events(conn, row.id)
    detail = RunDetail(run=Run.model_validate(row, from_attributes=True), counts=row.counts or {},
                       events=[Event.model_validate(e, from_attributes=True) for e in events])
    return jsonify(detail.model_dump(mode="json"))


@bp.get("/runs/<path:run_id>/progress")
@require("viewer")
def run_progress(run_id: str):
    """Polled by the run page of a running run (static/progress.js)."""
    from hub.sync.journal import Journal

    if not run_id.isascii() or not run_id.isdigit():
        return jsonify(error=f"run id {run_id!r} is not a number"), 400
    found = Journal(hub().engine).progress(int(run_id)) if int(run_id) < 2**31 else None
    if found is None:
        return jsonify(error=f"no run {run_id}"), 404
    running = found["status"] in ("running", "applying")
    return jsonify(RunProgress(id=int(run_id), running=running, **found).model_dump(mode="json"))


@bp.get("/held")
@require("viewer")
def held():
    with hub().engine.connect() as conn:
        return jsonify(_many(Run, queries.held_runs(conn)))


@bp.get("/deadletters")
@require("viewer")
def deadletters():
    from hub.sync.deliver import dead_letters

    return jsonify(_many(DeadLetter, dead_letters(hub().engine, limit=500)))


@bp.get("/locks")
@require("viewer")
def locks():
    from hub.store.locks import held_locks

    return jsonify([Lock(name=row.name, holder=row.holder, acquired_at=row.acquired_at, expires_at=row.expires_at,
                         holder_alive=alive).model_dump(mode="json") for row, alive in held_locks(hub().engine)])


@bp.get("/jobs")
@require("viewer")
def jobs():
    from hub.scheduler import next_runs

    return jsonify([Job(name=job.name, action=job.action, source=job.source, cron=job.cron, next_run=when)
                    .model_dump(mode="json") for job, when in next_runs(hub().settings)])


@bp.get("/plugins")
@require("viewer")
def plugins():
    return jsonify(_many(Plugin, queries.enabled_plugins(hub())))


@bp.get("/search")
@require("viewer")
def search():
    query = _args(SearchQuery)
    with hub().engine.connect() as conn:
        people, places = queries.search(conn, query.q)
    return jsonify(SearchResult(people=_many(PersonFound, people), establishments=_many(EstablishmentFound, places))
                   .model_dump(mode="json"))


@bp.get("/indicators")
@require("viewer")
def indicators_rates():
    query = _args(IndicatorsQuery)
    rates = indicator_snapshot(query.by, None, query.weeks).rates
    return jsonify([Rate(**vars(r), rate=round(r.rate, 4)).model_dump(mode="json") for r in rates])


@bp.get("/indicators/weekly")
@require("viewer")
def indicators_weekly():
    query = _args(WeeklyQuery)
    series = indicator_snapshot(query.by, query.scope.upper() if query.scope else None, query.weeks).weekly
    return jsonify([WeeklyRates(profile=profile, weeks=[WeekRate(week=w, rate=round(r, 4)) for w, r in values])
                    .model_dump(mode="json") for profile, values in series.items()])


# --- the OpenAPI document ---------------------------------------------------------------------

_OPERATIONS = {  # path -> (summary, response model, is a list, query model, path parameter)
    "/runs": ("Recent runs (sync, deliver, purge, approve…), newest first", Run, True, RunsQuery, None),
    "/runs/{run_id}": ("One run: its counts and its events", RunDetail, False, None, "run_id"),
    "/runs/{run_id}/progress": ("How far a run is: records read and phase, live while it runs", RunProgress, False,
                                None, "run_id"),
    "/held": ("Held sync runs waiting for review (approve them in the console)", Run, True, None, None),
    "/deadletters": ("Changes a target refused too many times", DeadLetter, True, None, None),
    "/locks": ("Locks held by running jobs", Lock, True, None, None),
    "/jobs": ("Scheduled jobs and their next run", Job, True, None, None),
    "/plugins": ("Enabled plugins with their health check's answer", Plugin, True, None, None),
    "/search": ("People (INE, key, jointure, name) and establishments (UAI, name)", SearchResult, False,
                SearchQuery, None),
    "/indicators": ("Connection rates per establishment or département and profile", Rate, True,
                    IndicatorsQuery, None),
    "/indicators/weekly": ("Week-by-week connection rates of one establishment or département, per profile",
                           WeeklyRates, True, WeeklyQuery, None),
}


def _operation_id(path: str) -> str:
    return path.strip("/").replace("/{run_id}", "_one").replace("/", "_")


def openapi_document() -> dict:
    models = {m for _, m, *_ in _OPERATIONS.values()} | {Error}
    _, schemas = models_json_schema([(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)],
                                    ref_template="#/components/schemas/{model}")
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    paths = {}
    for path, (summary, model, many, query, path_param) in _OPERATIONS.items():
        ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        responses = {
            "200": {"description": "OK", "content": {"application/json": {
                "schema": {"type": "array", "items": ref} if many else ref}}},
            "401": {"description": "not logged in", "content": error},
            "403": {"description": "the account's role does not allow it", "content": error},
        }
        parameters = []
        if query is not None:
            responses["400"] = {"description": "invalid parameters", "content": error}
            for name, field in query.model_json_schema()["properties"].items():
                parameters.append({"name": name, "in": "query", "required": name in
                                   query.model_json_schema().get("required", []), "schema": field})
        if path_param:
            responses["400"] = {"description": "not a run id", "content": error}
            responses["404"] = {"description": "no such run", "content": error}
            parameters.append({"name": path_param, "in": "path", "required": True,
                               "schema": {"type": "integer", "minimum": 1}})
        paths[path] = {"get": {"summary": summary, "operationId": _operation_id(path),
                               "parameters": parameters, "responses": responses}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ENT Hub console API", "version": "1"},
        "servers": [{"url": request.url_root.rstrip("/") + bp.url_prefix}],
        "paths": paths,
        "components": {"schemas": schemas["$defs"], "securitySchemes": {
            "console_session": {"type": "apiKey", "in": "cookie", "name": "session",
                                "description": "the console's session cookie (log in at /admin/login)"}}},
        "security": [{"console_session": []}],
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
