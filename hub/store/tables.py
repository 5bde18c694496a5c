"""The stored state, as SQLAlchemy Core tables. Alembic migrations (``store/migrations``) create them.

Three families: the domain state (establishment … teaching_assignment), the
sync machinery (stage_* rows of a run in progress, its plan_change rows, the
outbox), and operations (run journal, run events, job locks, blackout lifts,
source state).
"""

from datetime import UTC

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)



class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


# --- domain state ---------------------------------------------------------------

establishment = Table(
    "establishment", metadata,
    Column("id", Integer, primary_key=True),
    Column("uai", String(8), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("commune", String(100), nullable=False, default=""),
    Column("secteur_college", String(8)),
    Column("zone", String(50)),
    Column("territorial_unit", String(100)),
    Column("pseudo", Boolean, nullable=False, default=False),  # a structure whose code is not a valid UAI
    Column("school_year", Integer),  # the newest school year a complete read brought it (hub.continuity)
    Column("source", String(50), nullable=False),
    Column("digest", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

PUPIL_WITHOUT_INE = "kind = 'eleve' AND ine IS NULL"  # written as is: a partial index is used for its own words

person = Table(
    "person", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_key", String(80), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("ine", String(11)),
    Column("jointure", String(64), index=True),
    Column("last_name", String(200), nullable=False),
    Column("first_name", String(200), nullable=False),
    Column("birth_date", Date),
    Column("email", String(255)),
    Column("uai", String(8)),
    Column("match_key", String(300), nullable=False, index=True),  # names + birth date, to spot homonyms
    Column("source", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_since", UTCDateTime(), nullable=False),
    Column("delete_after", UTCDateTime()),
    Column("digest", String(32), nullable=False),
    Column("relations_digest", String(32)),  # of the relations alone (Person.digests): None rewrites them
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_person_source_status", "source", "status"),
    Index("ix_person_uai_kind_status", "uai", "kind", "status"),  # populations() counts from the index alone
    # the people without INE (most of them: parents, staff) left out, so that "is any pupil stored without an
    # INE?" goes to the pupils' own index, usually empty, instead of visiting every parent
    Index("ix_person_ine", "ine", postgresql_where=text("ine IS NOT NULL"), sqlite_where=text("ine IS NOT NULL")),
    Index("ix_person_pupil_without_ine", "id", postgresql_where=text(PUPIL_WITHOUT_INE),
          sqlite_where=text(PUPIL_WITHOUT_INE)),
)

SUBJECT_SEPARATOR = "$"  # between a pupil's subject codes in enrollment.subjects: the AAF's own separator

enrollment = Table(
    "enrollment", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("school_year", Integer, nullable=False),
    Column("uai", String(8), nullable=False),
    Column("mef", String(20), nullable=False, default=""),
    Column("niveau", String(40), nullable=False, default=""),
    Column("division", String(60), nullable=False, default=""),
    Column("subjects", Text, nullable=False, default="", server_default=""),  # codes joined by SUBJECT_SEPARATOR
)

group = Table(
    "study_group", metadata,
    Column("id", Integer, primary_key=True),
    Column("uai", String(8), nullable=False),
    Column("code", String(120), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("label", String(255), nullable=False, default=""),
    Column("archived_at", UTCDateTime()),  # last year's class nobody names any more (hub.continuity)
    UniqueConstraint("uai", "code", name="uq_study_group_uai_code"),
)

group_membership = Table(
    "group_membership", metadata,
    Column("group_id", Integer, ForeignKey("study_group.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True),
)

guardianship = Table(
    "guardianship", metadata,
    Column("pupil_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True),
    Column("parent_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("rank", Integer, nullable=False),
)

teaching_assignment = Table(
    "teaching_assignment", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("uai", String(8), nullable=False),
    Column("group_code", String(120), nullable=False),
    Column("subject", String(120), nullable=False, default=""),
    Column("principal", Boolean, nullable=False, default=False),  # professeur principal of that class
)

person_function = Table(  # what a member of staff does in each establishment (AAF ENTPersonFonctions)
    "person_function", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("uai", String(8), nullable=False),
    Column("code", String(20), nullable=False),
    Column("label", String(120), nullable=False, default=""),
    Column("discipline", String(60), nullable=False, default=""),
)

nomenclature = Table(  # national dictionaries: subjects and MEFs (AAF MatiereEducNat, MefEducNat)
    "nomenclature", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("code", String(60), nullable=False),
    Column("label", String(255), nullable=False),
    Column("national_code", String(60), nullable=False, default=""),
    Column("niveau", String(120), nullable=False, default=""),
    Column("filiere", String(120), nullable=False, default=""),
    Column("source", String(50), nullable=False),
    Column("digest", String(32), nullable=False),
    UniqueConstraint("kind", "code", name="uq_nomenclature_kind_code"),
)

person_alias = Table(  # another identity key of a stored person, confirmed by someone (hub doctor link)
    "person_alias", metadata,
    Column("alias_key", String(80), primary_key=True),
    Column("person_key", String(80), nullable=False, index=True),
    Column("linked_at", UTCDateTime(), nullable=False),
    Column("linked_by", String(100), nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# --- sync machinery: rows of one run, keyed by run_id ---------------------------
# On PostgreSQL the stage_* tables and plan_change are UNLOGGED (migration 0013): a new one should be too.

stage_establishment = Table(
    "stage_establishment", metadata,
    Column("run_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("source", String(50), nullable=False),
    Column("uai", String(8), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("commune", String(100), nullable=False),
    Column("secteur_college", String(8)),
    Column("zone", String(50)),
    Column("territorial_unit", String(100)),
    Column("pseudo", Boolean, nullable=False),
    Column("digest", String(32), nullable=False),
)

stage_group = Table(
    "stage_group", metadata,
    Column("run_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # the establishment record declaring the group
    Column("uai", String(8), nullable=False),
    Column("code", String(120), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("label", String(255), nullable=False),
)

stage_person = Table(
    "stage_person", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("source", String(50), nullable=False),
    Column("person_key", String(80), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("ine", String(11)),
    Column("jointure", String(64)),
    Column("last_name", String(200), nullable=False),
    Column("first_name", String(200), nullable=False),
    Column("birth_date", Date),
    Column("email", String(255)),
    Column("uai", String(8)),
    Column("match_key", String(300), nullable=False),
    Column("digest", String(32), nullable=False),
    Column("relations_digest", String(32)),
    Column("source_ref", String(300), nullable=False),
    Column("new_key", String(80)),  # set by resolution: the stored person (person_key) takes this key
    Index("ix_stage_person_run_key", "run_id", "person_key"),
    Index("ix_stage_person_run_seq", "run_id", "seq"),
)

stage_enrollment = Table(
    "stage_enrollment", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("school_year", Integer, nullable=False),
    Column("uai", String(8), nullable=False),
    Column("mef", String(20), nullable=False),
    Column("niveau", String(40), nullable=False),
    Column("division", String(60), nullable=False),
    Column("subjects", Text, nullable=False, default="", server_default=""),
    Index("ix_stage_enrollment_run_seq", "run_id", "seq"),
)

stage_membership = Table(
    "stage_membership", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("uai", String(8), nullable=False),
    Column("code", String(120), nullable=False),
    Column("kind", String(20), nullable=False),
    Index("ix_stage_membership_run_seq", "run_id", "seq"),
)

stage_guardianship = Table(
    "stage_guardianship", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("parent_key", String(80), nullable=False),
    Column("rank", Integer, nullable=False),
    Index("ix_stage_guardianship_run_seq", "run_id", "seq"),
)

stage_assignment = Table(
    "stage_assignment", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("uai", String(8), nullable=False),
    Column("group_code", String(120), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("principal", Boolean, nullable=False),
    Index("ix_stage_assignment_run_seq", "run_id", "seq"),
)

stage_function = Table(
    "stage_function", metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("uai", String(8), nullable=False),
    Column("code", String(20), nullable=False),
    Column("label", String(120), nullable=False),
    Column("discipline", String(60), nullable=False),
    Index("ix_stage_function_run_seq", "run_id", "seq"),
)

stage_nomenclature = Table(
    "stage_nomenclature", metadata,
    Column("run_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("source", String(50), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("code", String(60), nullable=False),
    Column("label", String(255), nullable=False),
    Column("national_code", String(60), nullable=False),
    Column("niveau", String(120), nullable=False),
    Column("filiere", String(120), nullable=False),
    Column("digest", String(32), nullable=False),
)

stage_deletion = Table(
    "stage_deletion", metadata,
    Column("run_id", Integer, nullable=False, index=True),
    Column("person_key", String(80), nullable=False),
    Column("source_ref", String(300), nullable=False),
)

stage_rejected = Table(  # people whose record was rejected: kept as stored, never deleted for it
    "stage_rejected", metadata,
    Column("run_id", Integer, nullable=False, index=True),
    Column("person_key", String(80), nullable=False),
)

plan_change = Table(
    "plan_change", metadata,
    Column("run_id", Integer, nullable=False),
    Column("source", String(50), nullable=False),
    Column("entity", String(20), nullable=False),
    Column("op", String(10), nullable=False),
    Column("key", String(300), nullable=False),
    Column("seq", Integer),  # the staged record, for creates and updates
    Column("person_id", Integer),  # the stored person, for updates and deletes
    Column("uai", String(8)),
    Column("old_uai", String(8)),
    Column("person_kind", String(20)),  # people: their kind (targets choose the kinds they serve)
    Column("group_kind", String(20)),  # groups and memberships: the group's kind (inter groups reach both ENTs)
    Column("relations", Boolean),  # people created or updated: whether apply rewrites their relations
    Index("ix_plan_change_run_op", "run_id", "op"),
    Index("ix_plan_change_run_key", "run_id", "key"),
    Index("ix_plan_change_run_seq", "run_id", "seq"),  # a staged row's plan row; written in seq order: cheap
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(50), nullable=False),
    Column("run_id", Integer),
    Column("entity", String(20), nullable=False),
    Column("op", String(10), nullable=False),
    Column("key", String(300), nullable=False),
    Column("idempotency_key", String(400), nullable=False, unique=True),
    Column("uai", String(8)),
    Column("old_uai", String(8)),
    Column("status", String(12), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("claimed_by", String(300)),  # the worker (host:pid) that took the row; kept once delivered
    Column("claimed_until", UTCDateTime()),  # its lease: past it (or once it died) another worker takes the row
    Index("ix_outbox_due", "status", "target", "next_attempt_at"),
    Index("ix_outbox_target_key", "target", "key"),
    Index("ix_outbox_pending", "id", postgresql_where=text("status = 'pending'"),
          sqlite_where=text("status = 'pending'")),  # workers claim the oldest pending rows, never scan the sent
    Index("ix_outbox_claimed_until", "claimed_until"),
)

target_link = Table(  # the id a target gave a hub entity (a SCIM id…), so updates and deletes reach it
    "target_link", metadata,
    Column("target", String(50), primary_key=True),
    Column("entity", String(20), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("remote_id", String(255), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- operations -------------------------------------------------------------------

run = Table(
    "run", metadata,
    Column("id", Integer, primary_key=True),
    Column("action", String(20), nullable=False),  # sync | deliver | purge
    Column("source", String(50)),
    Column("trigger", String(80), nullable=False),  # cli | scheduler:<job>
    Column("status", String(20), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("forced", Boolean, nullable=False, default=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("records_read", Integer, nullable=False, default=0),
    Column("complete", Boolean, nullable=False, default=False),
    Column("counts", JSON, nullable=False, default=dict),
    Column("message", Text),
    Column("pid", Integer),
    Column("host", String(255)),  # with pid: only this machine can tell whether the run's process died
    Column("phase", String(40)),  # what a running sync is doing (reading aaf, planning…); see journal.Progress
    Column("options", JSON),  # a sync's options (sources, uai, disabled_ops, full): approving a held run replays them
    Index("ix_run_action_source", "action", "source"),
)

run_event = Table(
    "run_event", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("run.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("level", String(10), nullable=False),  # error | warning | info
    Column("record", String(300), nullable=False),
    Column("key", String(80), nullable=False, default=""),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

job_lock = Table(
    "job_lock", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),  # host:pid
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

blackout_lift = Table(
    "blackout_lift", metadata,
    Column("name", String(100), primary_key=True),
    Column("window_start", Date, primary_key=True),  # the window this lift is for
    Column("lifted_at", UTCDateTime(), nullable=False),
    Column("lifted_by", String(100), nullable=False),
)

source_state = Table(
    "source_state", metadata,
    Column("source", String(50), primary_key=True),
    Column("cursor", Text),
    Column("last_complete_count", Integer),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- SSO broker (hub/sso) -------------------------------------------------------------------

login_event = Table(  # one row per successful login through the broker: the indicators count connection rates from it
    "login_event", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("person_key", String(300), nullable=False),
    Column("uai", String(8)),  # the establishment the login counts for (the person's attachment), if any
    Column("profile", String(20), nullable=False),  # person kind: pupil, parent, teacher, staff…
    Column("client_id", String(100), nullable=False),  # the OIDC/CAS/SAML client the user was going to
    Column("idp", String(100), nullable=False),  # the upstream IdP that authenticated them
    Index("ix_login_event_window", "at", "person_key", "uai", "profile"),  # the indicators' window, read from the index
    Index("ix_login_event_uai_at", "uai", "at", "profile", "person_key"),  # covering: the rates per establishment
    Index("ix_login_event_person_key", "person_key"),  # has this person ever logged in (accounts activated)
)

account_link = Table(  # an upstream identity (IdP + its stable subject) linked to a hub person at first login
    "account_link", metadata,
    Column("idp", String(100), primary_key=True),
    Column("subject", String(255), primary_key=True),  # EduConnect's FrEduCtId, else the NameID
    Column("person_key", String(80), nullable=False, index=True),
    Column("how", String(40), nullable=False),  # the rule that linked them: ine, jointure, children…
    Column("linked_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=False),
)

sso_entry = Table(  # short-lived SSO state when no Redis is configured: sessions, tickets, codes, replay cache
    "sso_entry", metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

oidc_refresh_token = Table(  # long-lived OIDC grants: a refresh token (stored hashed) per client and person
    "oidc_refresh_token", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(100), nullable=False),
    Column("person_key", String(80), nullable=False, index=True),
    Column("scope", Text, nullable=False),
    Column("idp", String(100), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("sid", String(64), index=True),  # the broker session it was issued in (its logout revokes it)
)

# --- helpdesk (hub/helpdesk) ----------------------------------------------------------------

helpdesk_zone = Table(  # the département's zones file (`hub establishments import-zones`): what routing reads
    "helpdesk_zone", metadata,
    Column("uai", String(8), primary_key=True),
    Column("za_taken_over", Boolean, nullable=False),  # the collège's administrative zone is the département's
    Column("cite_mixte", Boolean, nullable=False, default=False),  # collège + lycée: its ZP is the Région's
    Column("territorial_unit", String(20)),  # UT1 … UT4: which Omère service handles its building
    Column("updated_at", UTCDateTime(), nullable=False),
)

ticket = Table(  # one ticket the hub asked for, with its cause (automatic tickets) and where it went
    "ticket", metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(40), nullable=False, unique=True),  # in the ticket's title: found again after a crash
    Column("cause", String(200)),  # deadletters:<target>, held:<source>…; one open ticket per cause
    Column("destination", String(50), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("domain", String(10), nullable=False),
    Column("uai", String(8)),
    Column("reporter", String(200), nullable=False),
    Column("requester", String(200)),  # an e-mail the helpdesk keeps informed
    Column("title", String(200), nullable=False),
    Column("urgency", Integer, nullable=False, default=3),
    Column("fields", JSON, nullable=False, default=dict),
    Column("remote_id", String(50)),  # the helpdesk's ticket id, once it answered
    Column("remote_status", String(20)),  # new | processing | pending | solved | closed, as last polled
    Column("state", String(12), nullable=False),  # open | resolved (its cause went away)
    Column("seen", JSON, nullable=False, default=dict),  # what the watch last saw of the cause
    Column("occurrences", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Index("ix_ticket_cause_state", "cause", "state"),
)

ticket_request = Table(  # what the hub still has to tell a helpdesk (open, followup), kept until it is taken
    "ticket_request", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),  # open | followup | closing
    Column("content", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | done | refused (the helpdesk said no: fix, retry)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
    Index("ix_ticket_request_due", "status", "next_attempt_at"),
)

# --- GAR roster feed (plugins/gar) ----------------------------------------------------------

gar_person = Table(  # the opaque GARPersonIdentifiant: random, kept by person id (stable when the key changes)
    "gar_person", metadata,
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True),
    Column("gar_id", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

gar_sent = Table(  # per establishment and person: digest of what the last acknowledged delivery sent (Delta)
    "gar_sent", metadata,
    Column("uai", String(8), primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("digest", String(32)),  # None: written by a delivery not acknowledged yet
    Column("pending", String(32)),  # what the delivery in progress sends; becomes digest once acknowledged
)
# The GAR feed reads one establishment at a time: without these, each read scans every function and assignment
Index("ix_person_function_uai", person_function.c.uai)
Index("ix_teaching_assignment_uai", teaching_assignment.c.uai)

# --- admin console (hub/web) ----------------------------------------------------------------

admin_user = Table(  # a console account (`hub admin add-user`), logged in locally or, linked to a person, by SSO
    "admin_user", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("person_key", String(300), unique=True),  # `hub admin link-person`: this staff member logs in by SSO
    Column("password_hash", String(255), nullable=False),  # argon2id
    Column("role", String(10), nullable=False),  # viewer | operator | admin
    Column("totp_secret", String(200)),  # Fernet-encrypted (console.totp_key); when set, login takes a code
    Column("totp_step", Integer),  # the 30-second step of the last code used: a code works once
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime()),
)

audit_event = Table(  # every console action and login attempt: who, what, when, from where, with what outcome
    "audit_event", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(300), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("remote_addr", String(64), nullable=False, default=""),
    Column("outcome", String(10), nullable=False),  # ok | refused | failed
)
