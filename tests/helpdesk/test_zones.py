"""`hub establishments import-zones`: the département's zones file, checked whole, journaled, shown by
`hub establishments`, never overwritten by a sync (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def synced_zones(synced):
    uais = {kind: uai for kind, uai in synced.rows("select kind, min(uai) from establishment group by kind")}
    synced.uais = uais
    return synced


def _write(env, text: str, encoding: str = "utf-8"):
    path = env.root / "zones.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def _row(out: str, uai: str) -> list[str]:
    line = next(line for line in out.splitlines() if uai in line)
    return [cell.strip() for cell in re.split(r"[│|]", line)[1:-1]]


def test_zones_are_imported_shown_and_kept_across_syncs(synced_zones):
    env, college, lycee = synced_zones, synced_zones.uais["college"], synced_zones.uais["lycee"]
    path = _write(env, f"UAI;Zone administrative reprise;Unité territoriale;Cité mixte\r\n{college};oui;UT3;non\r\n"
                       f"{lycee};Non;ut 1;oui\r\n", "cp1252")
    out = env.run("establishments", "import-zones", path).output
    assert "2 line(s) read; changed the zones of 2 establishment(s)" in out
    assert f"{college}: none → ZA taken over, UT3" in out
    listing = env.run("establishments").output
    assert _row(listing, college)[4:] == ["ZA taken over", "UT3"]
    assert _row(listing, lycee)[4:] == ["ZA rectorat, cité mixte", "UT1"]
    run_id = env.scalar("select max(id) from run where action = 'zones'")
    assert env.scalar("select status from run where id = :r", r=run_id) == "applied"
    env.run("sync", "aaf", "--full")
    assert _row(env.run("establishments").output, college)[4:] == ["ZA taken over", "UT3"]
    again = env.run("establishments", "import-zones", path).output
    assert "changed the zones of 0 establishment(s)" in again


def test_a_wrong_line_applies_nothing_and_every_problem_is_named(synced_zones):
    env, college = synced_zones, synced_zones.uais["college"]
    path = _write(env, f"UAI;ZA reprise;UT\n{college};oui;UT1\n0150001B;oui;UT1\n0930001W;non;UT2\n"
                       f"{college};non;UT2\n{synced_zones.uais['lycee']};peut-être;UT2\n"
                       f"{synced_zones.uais['ecole']};non;Nord\n")
    out = " ".join(env.run("establishments", "import-zones", path, expect=1).output.split())
    assert "6 problem(s), nothing applied" not in out and "5 problem(s), nothing applied" in out
    for problem in ("line 3: UAI 0150001B has check letter B", "line 4: establishment 0930001W is not known",
                    f"line 5: {college} is already on line 2", "line 6: ZA reprise 'peut-être' is not oui/non",
                    "line 7: territorial unit 'Nord' is not UT1"):
        assert problem in out
    assert env.scalar("select count(*) from helpdesk_zone") == 0


def test_dry_run_and_replace(synced_zones):
    env, college, lycee = synced_zones, synced_zones.uais["college"], synced_zones.uais["lycee"]
    env.run("establishments", "import-zones", _write(env, f"UAI;ZA reprise;UT\n{college};non;UT2\n{lycee};non;\n"))
    path = _write(env, f"UAI;ZA reprise;UT\n{college};oui;UT2\n")
    out = env.run("establishments", "import-zones", path, "--replace", "--dry-run").output
    assert f"{college}: ZA rectorat, UT2 → ZA taken over, UT2" in out and f"{lycee}: ZA rectorat, no UT → none" in out
    assert "would change the zones of 2" in out and env.scalar("select count(*) from helpdesk_zone") == 2
    env.run("establishments", "import-zones", path, "--replace")
    assert env.rows("select uai, za_taken_over from helpdesk_zone") == [(college, True)]


def test_a_file_without_the_needed_columns_says_which(synced_zones):
    out = synced_zones.run("establishments", "import-zones", _write(synced_zones, "UAI;UT\n"), expect=1).output
    assert "has no ZA reprise column; expected UAI;ZA reprise;UT[;cité mixte]" in " ".join(out.split())
