"""The demo LDIF (RFC 2849), the ENT schema, and the slapd runner the other tests stand on."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from ldap3 import BASE, SUBTREE
from ldaptest import require_slapd
from slapd import ENT_SCHEMA, Slapd

from hub.demo import generate_academie
from hub.model import Person, PersonKind
from plugins.ldap_directory.ldif import attribute_line, entry_text, needs_base64, write_academie

TRICKY = {
    "accents": "Élodie-Françoise Nœl",
    "leading space": " espace",
    "leading colon": ":deux-points",
    "leading lt": "<inférieur",
    "trailing space": "fin ",
    "long": "Lycée " + "très " * 40 + "long",
    "plain": "Dupont",
    "dollar": "0150001A$6A$MATHS",
}


def parse_ldif(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """A small RFC 2849 reader for the tests: unfold, split entries, decode base64 values."""
    entries = []
    for block in text.replace("\n ", "").split("\n\n"):
        pairs = []
        for line in block.splitlines():
            name, _, rest = line.partition(":")
            pairs.append((name, base64.b64decode(rest[2:]).decode() if rest.startswith(": ") else rest[1:]))
        if pairs:
            entries.append((pairs[0][1], pairs[1:]))
    return entries


@pytest.mark.parametrize(("value", "encoded"), [
    ("Dupont", False), ("", False), ("a:b", False), ("a<b", False), ("0150001A$6A", False),
    ("Élodie", True), (" x", True), (":x", True), ("<x", True), ("x ", True), ("a\nb", True), ("a\rb", True),
])  # fmt: skip
def test_unsafe_values_are_base64(value, encoded):
    assert needs_base64(value) is encoded


def test_lines_are_folded_and_values_survive():
    text = entry_text("uid=1,ou=people,dc=academie,dc=fr", {"cn": list(TRICKY.values()), "empty": [""], "none": None})
    assert all(len(line) <= 76 for line in text.splitlines())
    assert "empty" not in text and "none" not in text
    [(dn, pairs)] = parse_ldif(text)
    assert dn == "uid=1,ou=people,dc=academie,dc=fr"
    assert [v for _, v in pairs] == list(TRICKY.values())
    assert attribute_line("sn", "Dupont") == "sn: Dupont\n"
    assert attribute_line("sn", "Éric") == f"sn:: {base64.b64encode('Éric'.encode()).decode()}\n"


class Streamed:
    """A stand-in académie whose people check, as they are drawn, that the file is already being written."""

    establishments: list = []

    def __init__(self, path: Path, count: int):
        self.path, self.count, self.seen_on_disk = path, count, 0

    def persons_of(self, kind):
        return self.persons() if kind == PersonKind.PARENT else iter(())

    def persons(self):
        for i in range(self.count):
            if i == self.count - 1:
                self.seen_on_disk = self.path.stat().st_size
            yield Person(PersonKind.PARENT, f"Nom{i}", "Prénom", jointure=str(40_000_000 + i), email=f"p{i}@x.fr")


def test_the_ldif_is_written_as_the_people_come(tmp_path):
    path = tmp_path / "academie.ldif"
    academie = Streamed(path, 3000)
    write_academie(academie, path)
    assert academie.seen_on_disk > 100_000  # most entries were on disk before the last person existed
    assert path.read_text().count("\ndn: ") + 1 == 3 + 3000


def test_schema_passes_slaptest():
    require_slapd()
    with Slapd() as server:
        done = subprocess.run(["slaptest", "-u", "-f", str(server.conf_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ENTEleveINE" in ENT_SCHEMA.read_text()


def test_tricky_values_load_with_slapadd_and_read_back(tmp_path):
    """What the writer encodes, slapd stores and returns unchanged (accents, spaces, colons…)."""
    require_slapd()
    academie = generate_academie(persons=300, seed=3, school_year=2026)
    path = write_academie(academie, tmp_path / "academie.ldif")
    extra = tmp_path / "tricky.ldif"
    extra.write_text(
        entry_text(
            "uid=tricky,ou=people,dc=academie,dc=fr",
            {
                "objectClass": ["inetOrgPerson", "ENTPerson"],
                "uid": "tricky",
                "cn": "tricky",
                "sn": TRICKY["accents"],
                "givenName": TRICKY["leading space"],
                "description": list(TRICKY.values()),
            },
        )
    )
    with Slapd(seed=[path, extra]) as server:
        conn = server.connection()
        conn.search(
            "uid=tricky,ou=people,dc=academie,dc=fr",
            "(objectClass=*)",
            BASE,
            attributes=["sn", "givenName", "description"],
        )
        entry = conn.response[0]["attributes"]
        assert entry["sn"] == [TRICKY["accents"]] and entry["givenName"] == [TRICKY["leading space"]]
        assert sorted(entry["description"]) == sorted(TRICKY.values())
        conn.search("dc=academie,dc=fr", "(objectClass=ENTStructure)", SUBTREE, attributes=["ENTStructureNomCourant"])
        names = {e["attributes"]["ENTStructureNomCourant"][0] for e in conn.response}
        assert names == {e.name for e in academie.establishments}


def test_the_runner_starts_stops_kills_and_cleans_up():
    require_slapd()
    server = Slapd(size_limit=2)
    with server:
        assert server.running and server.directory.is_dir()
        if os.geteuid() == 0:
            assert server.directory.stat().st_uid != 0  # given to openldap, as packaged slapd runs
        conn = server.connection()
        for i in range(3):
            conn.add(f"cn=r{i},{server.suffix}", "organizationalRole", {"cn": f"r{i}"})
        reader = server.connection(server.reader_dn, server.reader_password)
        reader.search(server.suffix, "(objectClass=organizationalRole)", SUBTREE)
        assert reader.result["description"] == "sizeLimitExceeded"
        port = server.port
        server.kill()
        assert not server.running
        server.restart(size_limit="unlimited")
        assert server.port == port
        reader = server.connection(server.reader_dn, server.reader_password)
        reader.search(server.suffix, "(objectClass=organizationalRole)", SUBTREE)
        assert len(reader.response) == 4  # the reader account and the three roles: data kept
        server.reset()
        check = server.connection()
        check.search(server.suffix, "(objectClass=organizationalRole)", SUBTREE)
        assert len(check.response) == 1  # back to the seed: the reader account only
        pid_file = server.directory / "slapd.pid"
        assert pid_file.exists()
    assert not server.directory.exists() and not server.running


def test_the_runner_can_load_what_no_schema_allows(tmp_path):
    require_slapd()
    seed = tmp_path / "broken.ldif"
    seed.write_text(
        "dn: dc=academie,dc=fr\nobjectClass: dcObject\nobjectClass: organization\ndc: academie\no: a\n\n"
        "dn: uid=nosn,dc=academie,dc=fr\nobjectClass: inetOrgPerson\nuid: nosn\ncn: x\n\n"  # sn is a MUST
    )
    with pytest.raises(RuntimeError, match="slapadd .* failed"):
        Slapd(seed=[seed]).start()
    with Slapd(seed=[seed], check_schema=False) as server:
        conn = server.connection()
        conn.search("uid=nosn,dc=academie,dc=fr", "(objectClass=*)", BASE, attributes=["sn"])
        assert conn.response[0]["attributes"]["sn"] == []
