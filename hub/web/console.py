"""The console's pages: dashboard, runs, operations, directory, indicators, jobs and plugins, audit log.

Reading needs the viewer role; acting on syncs, dead letters, locks and duplicates the
operator role; the audit log and the settings the admin role. Every action is audited
with its outcome, and goes through the function the matching ``hub`` command calls.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from hub.errors import HubError
from hub.web import charts, indicators, queries
from hub.web.accounts import LoginRefused, audit_events, authenticate, sso_account
from hub.web.guard import account, before_request, hub, indicator_snapshot, record, require, security_headers

bp = Blueprint("console", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")
bp.before_request(before_request)
bp.after_request(security_headers)


@bp.context_processor
def _template_globals():
    return {"csrf_token": generate_csrf, "me": account}


def _act(action: str, target: str, do, detail: str = "") -> None:
    """Run an operator's action: flash and audit its outcome (a HubError is a refusal, shown as it is)."""
    try:
        outcome = do()
    except HubError as exc:
        record(action, target, f"{detail} → {exc}".strip(" →"), outcome="failed")
        flash(str(exc), "error")
        return
    record(action, target, f"{detail} → {outcome}".strip(" →"))
    flash(outcome, "ok")


# --- login ----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Local accounts (`hub admin add-user`); staff with a linked account log in through the SSO instead."""
    target = request.values.get("next", "")
    if not target.startswith("/admin/"):  # back to a console page, never to another site
        target = url_for("console.dashboard")
    if request.method == "GET":
        return _login_page(target)
    username = request.form.get("username", "").strip().lower()
    try:
        found = authenticate(hub().engine, hub().settings.console, username, request.form.get("password", ""),
                             request.form.get("code", ""))
    except LoginRefused as exc:
        record("login", username, str(exc), outcome="refused", who=username or "anonymous")
        flash(str(exc), "error")
        return _login_page(target), 401
    session.clear()  # a fresh session (and CSRF token) for the logged-in user
    session.permanent = True
    session.update(uid=found.id, stamp=found.stamp)
    record("login", found.username, f"role {found.role}", who=found.username)
    return redirect(target)


def _login_page(target: str):
    return render_template("login.html", next=target, sso="sso" in current_app.extensions)


@bp.get("/login/sso")
def login_sso():
    """Staff whose person is linked to an account (`hub admin link-person`): the SSO's login opens it."""
    if "sso" not in current_app.extensions:
        abort(404)
    from hub.sso.web import current_user

    user = current_user()
    if user is None:
        return redirect(f"/sso/login?next={url_for('console.login_sso')}")
    try:
        found = sso_account(hub().engine, user["key"])
    except LoginRefused as exc:
        record("login", user["key"], f"through the SSO: {exc}", outcome="refused", who=user["key"])
        return render_template("error.html", message=str(exc)), 403
    session.clear()
    session.permanent = True
    session.update(uid=found.id, stamp=found.stamp)
    record("login", found.username, f"role {found.role}, through the SSO ({user['idp']})", who=found.username)
    return redirect(url_for("console.dashboard"))


@bp.post("/logout")
def logout():
    if account():
        record("logout")
    session.clear()
    return redirect(url_for("console.login"))


# --- dashboard and runs ---------------------------------------------------------------------


@bp.get("/")
@require("viewer")
def dashboard():
    from hub.scheduler import next_runs
    from hub.store.locks import held_locks
    from hub.sync.deliver import dead_letters

    h = hub()
    with h.engine.connect() as conn:
        last, held = queries.last_runs(conn), queries.held_runs(conn)
    return render_template("dashboard.html", last=last, held=held, dead=dead_letters(h.engine, limit=20),
                           jobs=next_runs(h.settings), locks=held_locks(h.engine))


@bp.get("/runs")
@require("viewer")
def runs():
    action, status = request.args.get("action", ""), request.args.get("status", "")
    with hub().engine.connect() as conn:
        rows = queries.runs(conn, limit=100, action=action or None, status=status or None)
    return render_template("runs.html", runs=rows, action=action, status=status,
                           running=any(r.status in ("running", "applying") for r in rows))


@bp.get("/runs/<int:run_id>")
@require("viewer")
def run(run_id: int):
    from hub.sync.journal import Journal, event_groups, flat_counts
    from hub.web.actions import replay_command

    filters = {k: request.args.get(k, "").strip() for k in ("uai", "op", "entity")}
    filters["uai"] = filters["uai"].upper()
    with hub().engine.connect() as conn:
        row = queries.run_row(conn, run_id)
        if row is None:
            abort(404, description=f"no run {run_id}")
        plan, plan_counts = queries.plan_preview(conn, run_id, **filters)
        events = queries.run_events(conn, run_id)
        approvable = any(r.id == run_id for r in queries.held_runs(conn))
    progress = Journal(hub().engine).progress(run_id) if row.status in ("running", "applying") else None
    return render_template("run.html", run=row, counts=flat_counts(row.counts or {}), groups=event_groups(events),
                           plan=plan, plan_counts=plan_counts, filters=filters, approvable=approvable,
                           replay=replay_command(row) if approvable else "", progress=progress)


@bp.post("/runs/<int:run_id>/approve")
@require("operator")
def approve(run_id: int):
    from hub.web.actions import approve_held_run

    reason = request.form.get("reason", "")
    applied: list = []

    def do():
        report = approve_held_run(hub(), run_id, by=account().username, reason=reason)
        applied.append(report.run_id)
        return f"run {run_id} approved; applied as run {report.run_id}: {report.status} {report.message}".strip()

    _act("approve-held-run", f"run {run_id}", do, f"reason: {reason.strip()}")
    return redirect(url_for("console.run", run_id=applied[0] if applied else run_id))


# --- operations ---------------------------------------------------------------------------


@bp.get("/operations")
@require("viewer")
def operations():
    from hub.doctor import duplicate_groups, recent_conflicts
    from hub.store.locks import held_locks
    from hub.sync.deliver import dead_letters

    h = hub()
    with h.engine.connect() as conn:
        held, groups, conflicts = queries.held_runs(conn), duplicate_groups(conn), recent_conflicts(conn, limit=50)
    return render_template("operations.html", held=held, dead=dead_letters(h.engine, limit=200),
                           locks=held_locks(h.engine), groups=groups, conflicts=conflicts)


@bp.post("/deadletters/retry")
@require("operator")
def retry_deadletters():
    from hub.sync.deliver import retry_dead

    every = request.form.get("all") == "1"
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]

    def do():
        if not every and not ids:
            raise HubError("tick the dead letters to retry, or retry them all")
        count = retry_dead(hub().engine, None if every else ids)
        return f"{count} change(s) queued again; the next delivery sends them"

    _act("retry-dead-letters", "all" if every else ",".join(map(str, ids)), do)
    return redirect(url_for("console.operations"))


@bp.post("/locks/release")
@require("operator")
def release_lock():
    from hub.web.actions import release_lock as release

    name, force = request.form.get("name", ""), request.form.get("force") == "1"
    _act("release-lock", name, lambda: f"released {name} (was held by "
         f"{release(hub(), name, by=account().username, force=force)})", "by force" if force else "")
    return redirect(url_for("console.operations"))


@bp.post("/duplicates/link")
@require("operator")
def link_duplicates():
    from hub.doctor import link_people

    keep, other, reason = (request.form.get(k, "").strip() for k in ("keep", "other", "reason"))

    def do():
        if not reason:
            raise HubError("say why they are one person (the reason is journaled)")
        run_id = link_people(hub().engine, keep, other, by=account().username, reason=reason,
                             targets=hub().plugins.targets)
        return f"{other} is now {keep} (journal run {run_id})"

    _act("link-people", f"{other} -> {keep}", do, f"reason: {reason}")
    return redirect(url_for("console.operations"))


# --- directory ------------------------------------------------------------------------------


@bp.get("/directory")
@require("viewer")
def directory():
    text = request.args.get("q", "")
    with hub().engine.connect() as conn:
        people, places = queries.search(conn, text)
    return render_template("directory.html", q=text, people=people, places=places)


@bp.get("/people/<path:key>")
@require("viewer")
def person(key: str):
    with hub().engine.connect() as conn:
        found = queries.person_detail(conn, key)
    if found is None:
        abort(404, description=f"no person with the key {key}")
    return render_template("person.html", **found)


@bp.get("/establishments/<uai>")
@require("viewer")
def establishment(uai: str):
    with hub().engine.connect() as conn:
        found = queries.establishment_detail(conn, uai.upper())
    if found is None:
        abort(404, description=f"no establishment {uai}")
    return render_template("establishment.html", **found)


# --- indicators -----------------------------------------------------------------------------


def _snapshot(scope: str | None = None) -> indicators.Snapshot:
    by = request.args.get("by", "departement")
    if by not in indicators.BY:
        abort(400, description=f"by: one of {', '.join(indicators.BY)}")
    return indicator_snapshot(by, scope)


@bp.get("/indicators")
@require("viewer")
def indicators_page():
    by, scope = request.args.get("by", "departement"), request.args.get("scope", "").strip().upper() or None
    snap = _snapshot(scope)
    overall = [r for r in snap.rates if r.profile == indicators.ALL]
    label = (lambda r: f"{r.scope} {r.name}") if by == "establishment" else (lambda r: f"département {r.scope}")
    figures = [
        charts.bar_chart(f"Connection rate over {snap.weeks} weeks", [(label(r), r.rate) for r in overall]),
        charts.bar_chart("Accounts activated (logged in at least once)",
                         [(label(r), r.activated_share) for r in overall]),
        charts.bar_chart("Pupils with a parent holding an account", [(label(f), f.share) for f in snap.families]),
        charts.line_chart(f"Weekly connection rate — {scope or 'everywhere'}", snap.weekly),
    ]
    return render_template("indicators.html", by=by, scope=scope or "", snap=snap, figures=figures)


@bp.get("/indicators.csv")
@require("viewer")
def indicators_csv():
    snap = _snapshot()
    by = request.args.get("by", "departement")
    record("export-indicators", by)
    return Response(indicators.as_csv(snap), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="indicators-{by}-{snap.computed_at:%Y%m%d}.csv"'})


# --- jobs, plugins, settings, audit ---------------------------------------------------------


@bp.get("/jobs")
@require("viewer")
def jobs():
    from hub.scheduler import blocking_blackout, next_runs

    h = hub()
    with h.engine.connect() as conn:
        last = {r.trigger.partition(":")[2]: r for r in queries.runs(conn, limit=500)
                if r.trigger.startswith("scheduler:")}
    rows = [(job, when, last.get(job.name), blocking_blackout(h.engine, h.settings, job.name))
            for job, when in next_runs(h.settings)]
    return render_template("jobs.html", jobs=rows, plugins=queries.enabled_plugins(h))


@bp.post("/jobs/<name>/run")
@require("operator")
def run_job(name: str):
    from hub.scheduler import find_job
    from hub.scheduler import run_job as run_now

    h = hub()
    _act("run-job", name, lambda: run_now(h, find_job(h.settings, name), trigger=f"console:{account().username}"))
    return redirect(url_for("console.jobs"))


@bp.get("/settings")
@require("admin")
def settings():
    import json

    h = hub()
    shown = h.settings.model_dump(mode="json")  # SecretStr fields come out as "**********"
    sections = {name: model.model_dump(mode="json") if model is not None else None
                for name, model in h.plugins.settings.items()}  # validated: their secrets are SecretStr
    shown["plugins"] = {"enabled": h.settings.plugins.enabled, **sections}
    return render_template("settings.html", settings=json.dumps(_masked(shown), indent=2, ensure_ascii=False))


_SECRET_WORDS = ("password", "secret", "token", "private", "salt", "database_url")


def _masked(value, name: str = ""):
    """Sections that accept any key (helpdesk destinations) may hold secrets read from the environment."""
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, name) for v in value]
    return "**********" if value and any(word in name.lower() for word in _SECRET_WORDS) else value


@bp.get("/audit")
@require("admin")
def audit():
    return render_template("audit.html", events=audit_events(hub().engine, actor=request.args.get("actor") or None))
