"""The web form of establishment staff: report an incident, logged in through the SSO broker (``/helpdesk/``).

Only staff (teachers, personnels) may use it, and only for their own establishments (attachment
and functions). The ticket goes where the routing rules say, like `hub ticket open`; a helpdesk
that is down leaves the request kept and retried. Forms carry a per-session token against
cross-site posts. Registered by a helpdesk plugin (``hub_register_blueprints``) when the SSO
broker is enabled.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Flask, abort, current_app, redirect, render_template_string, request
from markupsafe import Markup

from hub.errors import HubError, LockedError
from hub.helpdesk.desk import Helpdesk
from hub.helpdesk.routing import DOMAINS
from hub.queries import StoreView
from hub.sso.sessions import session  # the broker's session: who is logged in, and the form token

bp = Blueprint("helpdesk", __name__, url_prefix="/helpdesk")
STAFF = ("enseignant", "personnel")
LABELS = {"ZP": "Zone pédagogique (postes élèves et enseignants, salles, Wi-Fi)",
          "ZA": "Zone administrative (postes de l'administration)", "bati": "Bâti ayant un impact sur le numérique",
          "ent": "ENT et connexion", "metier": "Applications métier de l'Éducation nationale"}

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1>{% if message %}<p class="{{ kind }}">{{ message }}</p>{% endif %}{{ body }}</body></html>"""

FORM = """<form method="post" action="/helpdesk/ticket">
<input type="hidden" name="token" value="{{ token }}">
<label>Établissement <select name="uai">{% for uai, name in establishments %}
<option value="{{ uai }}"{% if uai == form.uai %} selected{% endif %}>{{ name }} ({{ uai }})</option>{% endfor %}
</select></label>
<label>Domaine <select name="domain">{% for domain, label in domains %}
<option value="{{ domain }}"{% if domain == form.domain %} selected{% endif %}>{{ label }}</option>{% endfor %}
</select></label>
<label>Titre <input name="title" maxlength="150" required value="{{ form.title or '' }}"></label>
<label>Description <textarea name="content" required>{{ form.content or '' }}</textarea></label>
<label>Urgence <select name="urgency">{% for n in range(1, 6) %}
<option value="{{ n }}"{% if n == form.urgency %} selected{% endif %}>{{ n }}</option>{% endfor %}</select></label>
<button>Envoyer</button></form>"""


def _page(title: str, message: str = "", kind: str = "info", body: str = "", status: int = 200):
    return render_template_string(PAGE, title=title, message=message, kind=kind, body=Markup(body)), status


def _staff():
    """The logged-in member of staff and their establishments {uai: name}, or a redirect to the login."""
    user = session.get("user")
    if not user:
        return None, None
    hub = current_app.extensions["hub"]
    person = StoreView(hub.engine).people([user["key"]]).get(user["key"])
    if person is None or person.kind not in STAFF:
        abort(403)
    view = StoreView(hub.engine)
    uais = sorted({u for u in [person.uai, *(f.uai for f in person.functions)] if u})
    found = {uai: e.name for uai in uais if (e := view.establishment(uai)) is not None}
    return person, found


def _form(establishments: dict, values: dict, message: str = "", status: int = 200):
    session.setdefault("helpdesk_token", secrets.token_urlsafe(24))
    body = render_template_string(FORM, token=session["helpdesk_token"], establishments=establishments.items(),
                                  domains=[(d, LABELS[d]) for d in DOMAINS if d in LABELS], form=values)
    return _page("Signaler un incident", message, "error" if message else "info", body, status)


@bp.route("/ticket", methods=["GET", "POST"])
def ticket():
    person, establishments = _staff()
    if person is None:
        return redirect(f"/sso/login?next={request.path}")
    if not establishments:
        return _page("Signaler un incident", "Aucun établissement ne vous est rattaché.", "error", status=403)
    if request.method == "GET":
        return _form(establishments, {"urgency": 3})
    form = request.form
    values = {"uai": form.get("uai"), "domain": form.get("domain"), "title": form.get("title", "").strip(),
              "content": form.get("content", "").strip(), "urgency": int(form.get("urgency", "3") or 3)}
    expected = session.get("helpdesk_token")
    if not expected or not secrets.compare_digest(expected, form.get("token", "")):
        return _page("Signaler un incident", "Formulaire expiré : rechargez la page.", "error", status=400)
    if values["uai"] not in establishments:
        return _form(establishments, values, "Choisissez un de vos établissements.", 400)
    if values["domain"] not in LABELS or not values["title"] or not values["content"] \
            or not 1 <= values["urgency"] <= 5:
        return _form(establishments, values, "Domaine, titre et description sont nécessaires.", 400)
    desk = Helpdesk(current_app.extensions["hub"])
    who = f"{person.first_name} {person.last_name}".strip()
    try:
        ticket_id, reference, route = desk.request(
            title=values["title"], content=values["content"], domain=values["domain"], uai=values["uai"],
            reporter=f"{who} <{person.email}>" if person.email else who, reporter_kind="staff",
            requester=person.email, urgency=values["urgency"])
    except HubError as exc:
        return _form(establishments, values, f"Ce signalement ne peut pas être orienté : {exc}", 400)
    try:
        report = desk.send(due_only=False, ticket_ids=[ticket_id])
    except LockedError:  # another process is sending: it, or the next pass, sends this one
        report = None
    where = desk.settings.destinations[route.destination].label or route.destination
    state = ("transmis" if report and report.sent else
             "enregistré ; l'équipe du hub doit le vérifier avant de le transmettre" if report and report.refused
             else "enregistré ; il sera transmis dès que le service répondra")
    return _page("Incident signalé", f"Votre signalement {reference} est {state} ({where}).")


def register(app: Flask) -> None:
    """Check the helpdesk's destinations (the web app fails at start on a bad one), and add the form when the
    SSO broker is on (without it, nobody could log in to use it)."""
    Helpdesk(app.extensions["hub"])
    if "sso" in app.extensions and "helpdesk" not in app.blueprints:
        from hub.sso import use_sso_session

        app.register_blueprint(bp)
        use_sso_session(app, bp.name)
