"""Who may bring a person back: the owner of their establishment deleted them, another source may not undo it."""

import pytest

from hub.demo import generate_academie


@pytest.fixture
def both(hub_env):
    hub_env.write_config(f"""
        [plugins.onde]
        path = "{hub_env.root / 'onde'}"
        school_year = 2026
        demo_layout = "ecole"
        [sync]
        owners = {{ ecole = "onde" }}
        """, enabled=("aaf", "onde"))
    hub_env.run("demo", "--persons", "300", "generate")  # AAF files (écoles included) and ONDE files with INEs
    hub_env.run("sync", "--all")
    return hub_env


def _drop_onde_rows(env, ine: str) -> int:
    dropped = 0
    for path in (env.root / "onde").rglob("*.csv"):
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line in lines if ine.encode() not in line]
        dropped += len(lines) - len(kept)
        path.write_bytes(b"".join(kept))
    return dropped


def test_a_pupil_the_owner_deleted_is_not_brought_back_by_another_source(both):
    academie = generate_academie(persons=300, seed=1, school_year=2026)
    ecoles = {e.uai for e in academie.establishments if e.kind == "ecole"}
    pupil = next(p for p in academie.persons_of("eleve") if p.uai in ecoles)
    assert both.scalar("select source from person where person_key = :k", k=pupil.key) == "onde"

    assert _drop_onde_rows(both, pupil.ine) == 1  # the école's export no longer has the pupil; the AAF still does
    both.run("sync", "--all")
    assert both.scalar("select status from person where person_key = :k", k=pupil.key) == "pending_deletion"

    both.run("sync", "--all")
    both.run("sync", "aaf")
    assert both.scalar("select status from person where person_key = :k", k=pupil.key) == "pending_deletion"
    assert both.counts()["sources"]["aaf"]["superseded"] > 0
