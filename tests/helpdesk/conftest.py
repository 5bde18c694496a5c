"""Fixtures of the helpdesk tests: a synced hub with seed 001's routing and a zones file for its collège."""

from __future__ import annotations

import pytest
from helpdesk_env import configure, token_env


def colleges(env) -> list[str]:
    return [uai for (uai,) in env.rows("select uai from establishment where kind = 'college' order by uai")]


@pytest.fixture(scope="module")
def zoned(tmp_path_factory):
    """One synced hub for a module; ``zoned(line)`` imports a zones file giving its collège that line
    (``ZA reprise;UT;cité mixte``, or None: not in the file) and returns (env, the collège's UAI)."""
    from hubtest import synced_demo

    root = tmp_path_factory.mktemp("zoned")
    env = synced_demo(root)
    configure(env)
    college = colleges(env)[0]
    lycee = env.scalar("select uai from establishment where kind = 'lycee'")
    tokens = pytest.MonkeyPatch()
    for name, value in token_env().items():
        tokens.setenv(name, value)

    def set_zone(line: str | None):
        rows = [f"{college};{line}"] if line else [f"{lycee};non;UT1;non"]
        (root / "zones.csv").write_text("UAI;ZA reprise;UT;cité mixte\n" + "\n".join(rows) + "\n")
        env.run("establishments", "import-zones", str(root / "zones.csv"), "--replace")
        return env, college

    yield set_zone
    tokens.undo()
