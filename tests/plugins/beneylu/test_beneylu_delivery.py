"""The Beneylu target end to end: `hub sync aaf` then `hub deliver` to a real SFTP server on 127.0.0.1,
asserting on the files that land there (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from datetime import UTC, datetime

import pytest
from aaf_files import records, rewrite, set_attr
from beneylu_env import REMOTE_DIR, configure, landed
from hubtest import as_datetime
from sqlalchemy import text

from hub.model import PersonKind
from plugins.onde.reader import read_feed

ONDE_FILES = ["CSVExtraction-eleves.csv", "CSVExtraction-responsables.csv", "CSVExtraction-enseignants.csv"]


def table(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("cp1252"), newline=""), delimiter=";"))


def ecoles(env) -> list[str]:
    return [u for (u,) in env.rows("select uai from establishment where kind = 'ecole' order by uai")]


def people(env, uai: str, kind: str) -> set[tuple]:
    rows = env.rows("select last_name, first_name, birth_date from person where uai = :u and kind = :k "
                    "and status = 'active'", u=uai, k=kind)
    return {(r.last_name, r.first_name, str(r.birth_date)[:10]) for r in rows}


def parents(env, uai: str) -> set[tuple]:
    rows = env.rows("select distinct p.last_name, p.first_name from person p join guardianship g on g.parent_id = p.id "
                    "join person c on c.id = g.pupil_id where c.uai = :u and c.status = 'active'", u=uai)
    return {(r.last_name, r.first_name) for r in rows}


def pupils_in(files: dict[str, bytes]) -> set[tuple]:
    return {(row[0], row[2], row[3]) for row in table(files["CSVExtraction-eleves.csv"])[1:]}


def about_ecoles(env) -> list:
    """The target's outbox rows, less the memberships of collège pupils in cycle-3 groups (no école file shows
    them: the target takes them without a word to the server)."""
    where = {r.person_key: r.uai for r in env.rows("select person_key, uai from person")}
    schools = set(ecoles(env))
    return [r for r in env.rows("select entity, key, status, attempts, last_error, next_attempt_at from outbox "
                                "where target = 'beneylu' order by id")
            if r.entity != "membership" or where.get(r.key.partition("|")[0]) in schools]


def outbox(env, status: str) -> int:
    return env.scalar("select count(*) from outbox where target = 'beneylu' and status = :s", s=status)


def test_every_ecole_lands_with_its_classes_pupils_teachers_and_parents(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    assert outbox(beneylu_hub, "delivered") > 0 and outbox(beneylu_hub, "pending") == 0
    everything = landed(sftp_server)
    assert {path.split("/")[0] for path in everything} == set(ecoles(beneylu_hub))  # no collège, no lycée
    assert not any(".part" in path for path in everything)
    for uai in ecoles(beneylu_hub):
        files = landed(sftp_server, uai)
        assert sorted(files) == sorted([*ONDE_FILES, "CSVExtraction-reseau.csv"])
        assert pupils_in(files) == people(beneylu_hub, uai, "eleve") != set()
        labels = {label for (label,) in beneylu_hub.rows(
            "select label from study_group where uai = :u and kind = 'division'", u=uai)}
        assert {row[15] for row in table(files["CSVExtraction-eleves.csv"])[1:]} == labels
        assert table(files["CSVExtraction-eleves.csv"])[0][13] == " Cycle"  # ONDE's own header, leading space
        assert {(row[1], row[3]) for row in table(files["CSVExtraction-responsables.csv"])[1:]} == parents(
            beneylu_hub, uai)
        teachers = table(files["CSVExtraction-enseignants.csv"])[1:]
        assert {(row[1], row[3]) for row in teachers} == {p[:2] for p in people(beneylu_hub, uai, "enseignant")}
        assert {row[12] for row in teachers} <= labels and {row[11] for row in teachers} == {"non"}  # no DIR here
        network = table(files["CSVExtraction-reseau.csv"])
        college = beneylu_hub.scalar("select secteur_college from establishment where uai = :u", u=uai)
        assert network[1][:4] == [uai, beneylu_hub.scalar("select name from establishment where uai = :u", u=uai),
                                  college, beneylu_hub.scalar("select name from establishment where uai = :u",
                                                              u=college)]
    everywhere = set().union(*(pupils_in(landed(sftp_server, u))
                               for u in ecoles(beneylu_hub)))
    for (college,) in beneylu_hub.rows("select uai from establishment where kind <> 'ecole'"):
        assert not people(beneylu_hub, college, "eleve") & everywhere  # no collège pupil in an école's file


def test_the_files_are_an_onde_extraction_the_onde_reader_takes(beneylu_hub, sftp_server, tmp_path):
    beneylu_hub.run("deliver")
    uai = ecoles(beneylu_hub)[0]
    folder = tmp_path / "onde" / uai
    folder.mkdir(parents=True)
    for name in ONDE_FILES:
        shutil.copy(sftp_server.root / REMOTE_DIR[1:] / uai / name, folder / name)
    items = list(read_feed(tmp_path / "onde", school_year=2026).items)
    pupils = [i for i in items if getattr(i, "kind", None) == PersonKind.ELEVE]
    assert {(p.last_name, p.first_name, str(p.birth_date)) for p in pupils} == people(beneylu_hub, uai, "eleve")
    assert all(p.guardians for p in pupils)  # every responsable found their child again
    assert not [i for i in items if type(i).__name__ in ("Rejected", "Notice")]


@pytest.mark.slow
def test_a_repeated_delivery_uploads_nothing(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    before = {path: os.stat(sftp_server.root / REMOTE_DIR[1:] / path).st_ino
              for path in landed(sftp_server)}
    links = beneylu_hub.scalar("select count(*) from target_link where target = 'beneylu' and entity = 'file'")
    assert links == len(before)
    engine = beneylu_hub.engine()
    with engine.begin() as conn:  # the crash case: every change arrives a second time
        conn.execute(text("update outbox set status = 'pending', delivered_at = null where target = 'beneylu'"))
    engine.dispose()
    sftp_server.stop()  # nothing to upload, so no connection is even tried
    beneylu_hub.run("deliver")
    assert outbox(beneylu_hub, "pending") == 0 and outbox(beneylu_hub, "dead") == 0
    sftp_server.start()
    after = {path: os.stat(sftp_server.root / REMOTE_DIR[1:] / path).st_ino
             for path in landed(sftp_server)}
    assert after == before  # same files, never rewritten (a rename would give new inodes)


def _move_cm2_pupil_to_college(env) -> tuple[str, str, tuple]:
    """Move a CM2 pupil to their école's secteur collège, as the AAF would; return (école, collège, pupil)."""
    pupil = env.rows("select p.jointure, p.uai, p.last_name, p.first_name, p.birth_date, e.secteur_college "
                     "from person p join enrollment n on n.person_id = p.id join establishment e on e.uai = p.uai "
                     "where e.kind = 'ecole' and n.niveau = 'CM2' order by p.person_key")[0]
    division = env.scalar("select code from study_group where uai = :u and kind = 'division' order by code",
                          u=pupil.secteur_college)

    def move(id_, attrs, request):
        if id_ == pupil.jointure:
            set_attr(request, "ENTPersonStructRattach", pupil.secteur_college)
            set_attr(request, "ENTEleveClasses", f"{pupil.secteur_college}${division}")

    rewrite(env.aaf_dir, "Eleve", move)
    env.run("sync", "aaf")
    return pupil.uai, pupil.secteur_college, (pupil.last_name, pupil.first_name, str(pupil.birth_date)[:10])


def test_a_cm2_pupil_moving_to_the_college_leaves_the_ecole_files(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    ecole, college, pupil = _move_cm2_pupil_to_college(beneylu_hub)
    assert pupil in pupils_in(landed(sftp_server, ecole))
    ops = {op for (op,) in beneylu_hub.rows("select op from outbox where target = 'beneylu' and status = 'pending'")}
    assert ops == {"leave", "archive", "remove"}  # archive is due after the grace period; remove: the class
    beneylu_hub.run("deliver")
    files = landed(sftp_server, ecole)
    assert pupil not in pupils_in(files)
    assert pupils_in(files) == people(beneylu_hub, ecole, "eleve")
    assert not (sftp_server.root / REMOTE_DIR[1:] / college).exists()
    assert {(row[1], row[3]) for row in table(files["CSVExtraction-responsables.csv"])[1:]} == parents(
        beneylu_hub, ecole)


@pytest.mark.slow
def test_a_server_down_is_retried_then_delivered_once_back(beneylu_hub, sftp_server):
    configure(beneylu_hub, sftp_server, backoff=5)  # longer than one delivery run, even on a busy machine
    sftp_server.stop()
    output = beneylu_hub.run("deliver").output
    rows = about_ecoles(beneylu_hub)
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    assert f"127.0.0.1:{sftp_server.port}" in rows[0].last_error and "Unable to connect" in rows[0].last_error
    assert sftp_server.password not in rows[0].last_error + output
    sftp_server.start()
    due = max(as_datetime(r.next_attempt_at) for r in about_ecoles(beneylu_hub))
    time.sleep(max(0.0, (due - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) + 0.3)
    beneylu_hub.run("deliver")
    assert {r.status for r in about_ecoles(beneylu_hub)} == {"delivered"}
    assert {p.split("/")[0] for p in landed(sftp_server)} == set(ecoles(beneylu_hub))


def test_a_refused_login_is_retried_and_never_shows_the_password(beneylu_hub, sftp_server):
    wrong = "not-the-password-42"
    beneylu_hub.run("deliver", env={"HUB_PLUGINS__BENEYLU__PASSWORD": wrong})
    errors = {r.last_error for r in about_ecoles(beneylu_hub)}
    assert len(errors) == 1 and "authentication refused for user 'hub'" in errors.pop()
    assert not beneylu_hub.scalar("select count(*) from outbox where last_error like :w", w=f"%{wrong}%")
    assert outbox(beneylu_hub, "pending") > 0 and outbox(beneylu_hub, "dead") == 0
    assert sftp_server.files() == {}


def test_a_key_login_delivers_and_a_wrong_passphrase_is_named_without_showing_it(beneylu_hub, sftp_server,
                                                                                    monkeypatch):
    monkeypatch.delenv("HUB_PLUGINS__BENEYLU__PASSWORD")
    configure(beneylu_hub, sftp_server, private_key_path=str(sftp_server.client_key))
    wrong = "not-the-passphrase-42"
    beneylu_hub.run("deliver", env={"HUB_PLUGINS__BENEYLU__PRIVATE_KEY_PASSPHRASE": wrong})
    errors = {r.last_error for r in about_ecoles(beneylu_hub)}
    assert len(errors) == 1 and "sftp_client_key" in errors.pop()
    assert not beneylu_hub.scalar("select count(*) from outbox where last_error like :w", w=f"%{wrong}%")
    assert sftp_server.files() == {}

    due = max(as_datetime(r.next_attempt_at) for r in about_ecoles(beneylu_hub))
    time.sleep(max(0.0, (due - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) + 0.3)
    beneylu_hub.run("deliver", env={"HUB_PLUGINS__BENEYLU__PRIVATE_KEY_PASSPHRASE": sftp_server.client_key_passphrase})
    assert {r.status for r in about_ecoles(beneylu_hub)} == {"delivered"}
    assert {p.split("/")[0] for p in landed(sftp_server)} == set(ecoles(beneylu_hub))


def test_an_unknown_host_key_is_refused_for_good(beneylu_hub, sftp_server):
    configure(beneylu_hub, sftp_server, host_key_fingerprint="SHA256:" + "A" * 43)
    beneylu_hub.run("deliver")
    assert {r.status for r in about_ecoles(beneylu_hub)} == {"dead"}
    errors = {r.last_error for r in about_ecoles(beneylu_hub)}
    assert len(errors) == 1
    assert f"host key ssh-ed25519 {sftp_server.fingerprint} is not the pinned SHA256:AAAA" in errors.pop()
    assert sftp_server.files() == {}


@pytest.mark.slow
def test_a_read_only_ecole_folder_is_dead_lettered_with_the_servers_message(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    locked, other = ecoles(beneylu_hub)[:2]
    folder = sftp_server.root / REMOTE_DIR[1:] / locked
    folder.chmod(0o555)
    targets = {locked: None, other: None}
    structures = {id_: attrs["ENTStructureUAI"][0] for id_, attrs in records(beneylu_hub.aaf_dir, "EtabEducNat")}

    def rename(id_, attrs, request):
        uai = structures.get(attrs["ENTPersonStructRattach"][0], attrs["ENTPersonStructRattach"][0])
        if uai in targets and targets[uai] is None:
            targets[uai] = id_
            set_attr(request, "sn", "Renommé")

    rewrite(beneylu_hub.aaf_dir, "Eleve", rename)
    beneylu_hub.run("sync", "aaf")
    beneylu_hub.run("deliver")
    dead = beneylu_hub.rows("select key, last_error from outbox where status = 'dead'")
    assert len(dead) == 1 and "Permission denied" in dead[0].last_error and locked in dead[0].last_error
    assert "Permission denied" in beneylu_hub.run("deadletters", "list").output
    assert outbox(beneylu_hub, "pending") == 0
    assert "Renommé" in landed(sftp_server, other)[ONDE_FILES[0]].decode("cp1252")
    assert not [p for p in os.listdir(folder) if p.endswith(".part")]
    folder.chmod(0o755)
    beneylu_hub.run("deadletters", "retry", "--all")
    beneylu_hub.run("deliver")
    assert "Renommé" in landed(sftp_server, locked)[ONDE_FILES[0]].decode("cp1252")


def test_the_fast_input_layout_replaces_the_extraction(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    configure(beneylu_hub, sftp_server, layout="fast_input")
    uai = ecoles(beneylu_hub)[0]
    pupil = beneylu_hub.scalar("select jointure from person where uai = :u and kind = 'eleve'", u=uai)
    rewrite(beneylu_hub.aaf_dir, "Eleve", lambda id_, attrs, r: set_attr(r, "givenName", "Zoë") if id_ == pupil
            else None)
    beneylu_hub.run("sync", "aaf")
    beneylu_hub.run("deliver")
    files = landed(sftp_server, uai)
    classes = {code for (code,) in beneylu_hub.rows(
        "select distinct n.division from enrollment n join person p on p.id = n.person_id "
        "where p.uai = :u and p.kind = 'eleve'", u=uai)}
    assert sorted(files) == sorted(["CSVExtraction-reseau.csv", *(f"saisie-rapide-{c}.csv" for c in classes)])
    rows = [row for name, content in files.items() if name.startswith("saisie") for row in table(content)]
    assert {(r[0], r[1]) for r in rows} == {p[:2] for p in people(beneylu_hub, uai, "eleve")}
    assert all(len(r) == 4 and r[2] == "" and r[3][2] == "/" for r in rows)
    assert "Zoë" in {r[1] for r in rows}


def test_the_network_file_holds_the_cycle3_groups_and_the_ecoles_own_members(beneylu_hub, sftp_server):
    beneylu_hub.run("deliver")
    for uai in ecoles(beneylu_hub):
        college = beneylu_hub.scalar("select secteur_college from establishment where uai = :u", u=uai)
        groups = {(r.code, r.label) for r in beneylu_hub.rows(
            "select code, label from study_group where kind = 'inter' and uai in (:u, :c)", u=uai, c=college)}
        assert len(groups) >= 3  # CM1, CM2 and 6e, kept under the collège
        members = {(r.code, r.last_name, r.first_name) for r in beneylu_hub.rows(
            "select g.code, p.last_name, p.first_name from group_membership m join study_group g on g.id = m.group_id "
            "join person p on p.id = m.person_id where g.kind = 'inter' and p.uai = :u", u=uai)}
        rows = table(landed(sftp_server, uai)["CSVExtraction-reseau.csv"])[1:]
        assert {(r[4], r[5]) for r in rows} == groups
        assert {(r[4], r[8], r[9]) for r in rows if r[8]} == members != set()
        assert {r[7] for r in rows if r[8]} == {"élève", "enseignant"}  # its CM pupils and their teachers only
