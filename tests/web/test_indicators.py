"""Indicators computed on both databases (the weekly grouping is written per dialect), read through the API and
the CSV export; login rows inserted as the SSO broker writes them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from consoletest import add_logins, configure, login, serve
from sqlalchemy import insert

from hub.clock import now
from hub.store.tables import target_link


def test_connection_rates_per_establishment_and_departement(console_any_db):
    env = console_any_db.env
    logged = add_logins(env, 0.5, weeks=3)
    accounts = dict(env.rows("select uai, count(*) from person where kind = 'eleve' and status = 'active' "
                             "group by uai"))
    client = console_any_db.client("vic")
    rates = client.get("/api/indicators", params={"by": "establishment"}).json()
    pupils = {r["scope"]: r for r in rates if r["profile"] == "eleve"}
    assert set(pupils) == set(accounts)
    for uai, row in pupils.items():
        assert (row["accounts"], row["active_users"], row["activated"]) == (accounts[uai], logged[uai], logged[uai])
        assert row["rate"] == pytest.approx(logged[uai] / accounts[uai], abs=1e-4)
    staff = [r for r in rates if r["profile"] == "enseignant"]
    assert staff and all(r["active_users"] == 0 and r["rate"] == 0 for r in staff)
    (departement,) = [r for r in client.get("/api/indicators").json() if r["profile"] == "eleve"]
    assert departement["scope"] == "015"
    assert departement["active_users"] == sum(logged.values())
    csv = client.get("/admin/indicators.csv", params={"by": "establishment"}).text.splitlines()
    uai = max(logged, key=logged.get)
    (line,) = [line for line in csv if line.startswith(f"{uai};") and ";eleve;" in line]
    assert line.split(";")[3:6] == [str(accounts[uai]), str(logged[uai]), str(logged[uai])]


def test_weekly_rates_count_each_person_once_a_week(console_any_db):
    env = console_any_db.env
    logged = add_logins(env, 0.5, weeks=3)
    uai = max(logged, key=logged.get)
    accounts = env.scalar("select count(*) from person where kind = 'eleve' and status = 'active' and uai = :u",
                          u=uai)
    client = console_any_db.client("vic")
    series = client.get("/api/indicators/weekly", params={"by": "establishment", "scope": uai, "weeks": 6}).json()
    pupils = {w["week"]: w["rate"] for s in series if s["profile"] == "eleve" for w in s["weeks"]}
    assert all(date.fromisoformat(week).weekday() == 0 for week in pupils)  # Mondays
    busy = [week for week, rate in pupils.items() if rate]
    assert len(busy) == 3 and len(pupils) >= 6
    assert all(pupils[week] == pytest.approx(logged[uai] / accounts, abs=1e-4) for week in busy)
    newest = date.fromisoformat(max(busy))
    assert newest > date.today() - timedelta(days=8)


def test_families_reached_and_people_per_target(console_any_db):
    env = console_any_db.env
    families = env.scalar("select count(distinct g.pupil_id) from guardianship g join person p on p.id = g.parent_id "
                          "where p.status = 'active'")
    pupils = [r.person_key for r in env.rows("select person_key from person where kind = 'eleve' order by id limit 3")]
    engine = env.engine()
    with engine.begin() as conn:  # the ids a target (here GAR) gave, as delivery stores them
        conn.execute(insert(target_link), [dict(target="gar", entity="person", key=key, remote_id=f"g{i}",
                                                updated_at=now()) for i, key in enumerate(pupils)])
    engine.dispose()
    page = console_any_db.client("vic").get("/admin/indicators").text
    assert f"<td>{families} (" in page  # pupils with a parent account, with its share
    assert "<th>accounts in gar</th>" in page and "<td>3</td></tr>" in page
    assert page.count("<svg") == 4 and "no data yet" not in page.split("Weekly")[0]
    csv = console_any_db.client("vic").get("/admin/indicators.csv").text.splitlines()
    assert csv[0].endswith(";accounts_gar") and csv[1].endswith(";3")


def test_indicators_are_kept_a_few_minutes_then_computed_again(console, monkeypatch):
    client = console.client("vic")
    before = {r["scope"]: r["active_users"] for r in client.get("/api/indicators").json() if r["profile"] == "all"}
    logged = add_logins(console.env, 0.5)
    cached = {r["scope"]: r["active_users"] for r in client.get("/api/indicators").json() if r["profile"] == "all"}
    assert cached == before == {"015": 0}
    configure(console.env, monkeypatch, "indicator_cache_minutes = 0\n")
    server = serve(console.env)
    try:
        fresh = console.client("vic")
        fresh.base_url = f"http://127.0.0.1:{server.server_port}"
        login(fresh, "vic")
        rates = fresh.get("/api/indicators").json()
        assert [r["active_users"] for r in rates if r["profile"] == "all"] == [sum(logged.values())]
    finally:
        server.shutdown()
