"""`hub purge` erases the OIDC refresh tokens used, revoked or expired longer ago than
``retention.refresh_token_days``, and keeps the others."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from oidc_rp import log_in, token
from sqlalchemy import update
from sso_env import CLIENT_SECRET

from hub.clock import now
from hub.store.tables import oidc_refresh_token


def test_purge_erases_refresh_tokens_past_retention_and_keeps_the_rest(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    issued = []
    for i in range(3):
        with sso.browser() as browser:
            issued.append(token(sso, log_in(browser, sso, nonce=f"n-{i}")).json()["refresh_token"])
    rotated = httpx.post(
        f"{sso.base}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": issued[0]},
        auth=("ent", CLIENT_SECRET),
    )
    assert rotated.status_code == 200  # issued[0] is now used (revoked), its successor live
    hashes = [h for (h,) in sso.rows("select token_hash from oidc_refresh_token order by issued_at")]
    assert len(hashes) == 4
    moment = now()
    with sso.env.engine().begin() as conn:
        # used 8 days ago: past the 7 days kept; issued[1] expired 8 days ago; issued[2] expired yesterday
        for key, column, days in (
            (hashes[0], "revoked_at", 8),
            (hashes[1], "expires_at", 8),
            (hashes[2], "expires_at", 1),
        ):
            conn.execute(
                update(oidc_refresh_token)
                .where(oidc_refresh_token.c.token_hash == key)
                .values({column: moment - timedelta(days=days)})
            )
    dry = sso.env.run("purge", "--dry-run")
    assert "would purge" in dry.output and "2 SSO refresh tokens" in dry.output
    assert len(sso.rows("select 1 from oidc_refresh_token")) == 4
    result = sso.env.run("purge")
    assert "2 SSO refresh tokens" in result.output, result.output
    kept = {h for (h,) in sso.rows("select token_hash from oidc_refresh_token")}
    assert kept == {hashes[2], hashes[3]}
    counts = sso.rows("select counts from run where action = 'purge' and status = 'applied'")
    assert json.loads(counts[-1][0])["refresh_token.purge"] == 2
    refreshed = httpx.post(
        f"{sso.base}/oidc/token",
        auth=("ent", CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
    )
    assert refreshed.status_code == 200  # the live token still works
