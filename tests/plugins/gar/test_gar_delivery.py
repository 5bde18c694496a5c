"""`hub gar deliver` and the ``gar.deliver`` job against a real SFTP server: rename into place, Delta, never lost."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections import Counter

import pytest
from conftest import REMOTE_DIR, configure
from lxml import etree

from plugins.aaf import writer
from plugins.gar.sftp import private_key


def landed(server) -> dict[str, bytes]:
    return server.files(REMOTE_DIR.strip("/"))


def archive_of(server, mode: str) -> dict[str, etree._Element]:
    """The newest delivery of ``mode`` on the server, checked against its .md5: file name -> root element."""
    files = landed(server)
    name = sorted(n for n in files if n.endswith(".tar.gz") and f"_{mode}_" in n)[-1]
    assert files[name.removesuffix(".tar.gz") + ".md5"].decode() == hashlib.md5(files[name]).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(files[name])) as tar:
        return {m.name: etree.fromstring(tar.extractfile(m).read()) for m in tar.getmembers()}


def pupil_ids(roots: dict[str, etree._Element]) -> Counter:
    return Counter(
        e.findtext("{*}GARPersonIdentifiant")
        for name, root in roots.items()
        if "_Eleve_" in name
        for e in root
        if etree.QName(e).localname == "GAREleve"
    )


@pytest.mark.slow
def test_a_delivery_lands_whole_then_a_delta_carries_only_who_changed(delivering, sftp_server):
    output = delivering.run("gar", "deliver", "--mode", "complet").output
    assert "GAR complet" in output
    files = landed(sftp_server)
    assert len(files) == 2 and not any(".part" in n for n in files)  # archive and md5, renamed into place
    complet = archive_of(sftp_server, "Complet")
    pupils = delivering.scalar("select count(*) from person where kind = 'eleve' and status = 'active'")
    assert sum(pupil_ids(complet).values()) == pupils
    run = delivering.rows("select action, status, message from run order by id desc limit 1")[0]
    assert run[:2] == ("gar", "applied") and "GAR complet" in run[2]
    assert delivering.counts()["persons"] > pupils

    delivering.run("gar", "deliver")  # nothing changed since: a Delta with nobody
    assert sum(pupil_ids(archive_of(sftp_server, "Delta")).values()) == 0

    renamed = [
        j for (j,) in delivering.rows("select jointure from person where kind = 'eleve' order by person_key limit 3")
    ]
    for path in delivering.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(
        delivering.aaf_dir, [("modify", "Eleve", j, {"givenName": "Renommée"}) for j in renamed], stamp="20260915"
    )
    delivering.run("sync", "aaf")
    delivering.run("gar", "deliver")
    delta = archive_of(sftp_server, "Delta")
    expected = {
        delivering.scalar(
            "select g.gar_id from gar_person g join person p on p.id = g.person_id where p.jointure = :j", j=j
        )
        for j in renamed
    }
    assert set(pupil_ids(delta)) == expected
    names = [e.text for name, root in delta.items() if "_Eleve_" in name for e in root.iter("{*}GARPersonPrenom")]
    assert names == ["Renommée"] * 3
    people = Counter(etree.QName(e).localname for root in delta.values() for e in root)
    assert people["GAREnseignant"] == people["GARRespAff"] == 0 and people["GAREleve"] == 3
    assert any(root.find("{*}GAREtab") is not None for root in delta.values())  # establishments go whole


@pytest.mark.slow
def test_a_failed_upload_is_journaled_and_its_people_go_with_the_next_delivery(delivering, sftp_server):
    sftp_server.stop()
    configure(delivering, sftp_server, attempts=2)
    result = delivering.run("gar", "deliver", expect=1)
    assert "sftp://hub@127.0.0.1" in result.output and sftp_server.password not in result.output
    status, message = delivering.rows("select status, message from run where action = 'gar'")[-1]
    assert status == "failed" and message.startswith("nothing acknowledged")
    assert delivering.scalar("select count(*) from gar_sent where digest is not null") == 0

    sftp_server.start()
    delivering.run("gar", "deliver")  # a Delta: everyone, as nothing was acknowledged yet
    pupils = delivering.scalar("select count(*) from person where kind = 'eleve' and status = 'active'")
    assert sum(pupil_ids(archive_of(sftp_server, "Delta")).values()) == pupils


def test_an_invalid_record_stops_the_delivery_and_nothing_is_sent(delivering, sftp_server):
    key = delivering.scalar(
        "select p.person_key from person p join person_function f on f.person_id = p.id "
        "where f.code = 'DIR' order by p.person_key limit 1"
    )
    engine = delivering.engine()
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("update person set email = null where person_key = :k"), {"k": key})
    engine.dispose()
    result = delivering.run("gar", "deliver", "--mode", "complet", expect=1)
    assert f"record of person {key}: GARPersonMail is empty" in result.output
    assert landed(sftp_server) == {}
    assert delivering.rows("select status from run where action = 'gar'")[-1][0] == "failed"


def test_the_job_action_delivers_a_complet(delivering, sftp_server):
    configure(
        delivering,
        sftp_server,
        extra='[[jobs]]\nname = "gar-weekly"\ncron = "0 3 * * 0"\naction = "gar.deliver"\nfull = true\n',
    )
    output = delivering.run("jobs", "run", "gar-weekly").output
    assert "GAR complet" in output
    assert archive_of(sftp_server, "Complet")
    assert delivering.rows("select trigger from run where action = 'gar'")[-1][0] == "scheduler:gar-weekly"


def test_a_key_login_delivers(delivering, sftp_server, monkeypatch):
    monkeypatch.delenv("HUB_PLUGINS__GAR__PASSWORD")
    monkeypatch.setenv("HUB_PLUGINS__GAR__PRIVATE_KEY", sftp_server.client_key.read_text())
    monkeypatch.setenv("HUB_PLUGINS__GAR__PRIVATE_KEY_PASSPHRASE", sftp_server.client_key_passphrase)
    assert "GAR complet" in delivering.run("gar", "deliver", "--mode", "complet").output
    assert archive_of(sftp_server, "Complet")


def test_an_unknown_host_key_is_refused_without_retrying(delivering, sftp_server):
    configure(delivering, sftp_server, host_key_fingerprint="SHA256:" + "A" * 43, attempts=3, retry_seconds=30)
    result = delivering.run("gar", "deliver", expect=1)
    assert "is not the pinned" in result.output and landed(sftp_server) == {}


@pytest.mark.filterwarnings("ignore:.*bcrypt.kdf")
def test_the_private_key_is_read_from_its_text():
    import asyncssh

    text = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    assert private_key(text).get_name() == "ssh-ed25519"
    encrypted = asyncssh.generate_private_key("ssh-ed25519").export_private_key(passphrase="pw", rounds=1).decode()
    assert private_key(encrypted, "pw").get_name() == "ssh-ed25519"
    with pytest.raises(ValueError, match="PASSPHRASE"):
        private_key(encrypted)
    with pytest.raises(ValueError, match="not an OpenSSH or PEM"):
        private_key("-----BEGIN NONSENSE-----\n")


def test_without_a_server_deliver_says_so_and_an_unknown_uai_is_named(gar_env, tmp_path):
    assert "[plugins.gar] host is not set" in gar_env.run("gar", "deliver", expect=1).output
    result = gar_env.run("gar", "export", "--uai", "0150001A", "--out", str(tmp_path), expect=1)
    assert "GAR does not serve 0150001A" in result.output
    configure(gar_env, host="sftp.example.fr")
    assert "with host, set username and host_key_fingerprint" in gar_env.run("journal", expect=1).output
