"""Values the store cannot hold are the record's error, the same on SQLite and PostgreSQL; the run goes on."""

from aaf_files import records, rewrite, set_attr
from test_sync import biggest_college

from hub.sdet import HUB_ZONE


def test_over_long_values_are_rejected_records_on_every_backend(synced):
    uai, pupils = biggest_college(synced)
    eleves = dict(records(synced.aaf_dir, "Eleve"))
    long_id = "9" * 100

    def spoil(id_, attrs, request):
        if id_ == pupils[0]:
            request.find("identifier/id").text = long_id  # an id wider than a jointure
        if id_ == pupils[1]:  # two long names: the match key must still fit
            set_attr(request, "sn", "DE LA " + "MONTAGNE-" * 21)
            set_attr(request, "givenName", "Marie-" * 32)
        if id_ == pupils[2]:
            set_attr(request, "ENTElevePersRelEleve", f"{'8' * 90}$1$1$1$0$0")  # a parent key wider than a key

    rewrite(synced.aaf_dir, "Eleve", spoil)
    rewrite(synced.aaf_dir, "EtabEducNat", lambda id_, attrs, request: set_attr(request, HUB_ZONE, "Z" * 60)
            if attrs["ENTStructureUAI"] == [uai] else None)
    output = synced.run("sync", "aaf", "--force").output
    assert "Traceback" not in output
    reasons = "\n".join(r for (r,) in synced.rows("select reason from run_event"))
    assert "jointure '9999999999" in reasons and "is 100 characters, more than 64" in reasons
    assert "zone 'ZZZZ" in reasons and "more than 50" in reasons
    assert "guardian key 'jnt:8888" in reasons
    long_named = synced.rows("select last_name, match_key from person where jointure = :j", j=pupils[1])
    assert len(long_named) == 1 and len(long_named[0].match_key) <= 300
    assert synced.scalar("select status from run order by id desc limit 1") == "applied"
    # the pupil whose record was unusable keeps their stored state
    assert synced.scalar("select status from person where jointure = :j", j=pupils[0]) == "active"
    assert eleves[pupils[0]]["sn"][0] == synced.scalar("select last_name from person where jointure = :j",
                                                        j=pupils[0])


def test_two_pupils_under_one_aaf_id_with_two_ines_keep_the_first(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    eleves = records(hub_env.aaf_dir, "Eleve")
    (first, first_attrs), (second, _) = eleves[0], eleves[1]
    rewrite(hub_env.aaf_dir, "Eleve", lambda id_, attrs, request: request.find("identifier/id").__setattr__(
        "text", first) if id_ == second else None)
    hub_env.run("sync", "aaf")
    assert hub_env.rows("select person_key from person where jointure = :j", j=first) \
        == [(f"ine:{first_attrs['ENTEleveINE'][0]}",)]
    reasons = [r for (r,) in hub_env.rows("select reason from run_event where level = 'error'")]
    assert any(f"jointure {first} is also the pupil ine:{first_attrs['ENTEleveINE'][0]}" in r for r in reasons)


def test_a_database_error_fails_the_run_with_its_cause(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    refuse_inserts(hub_env, "person")  # a database that refuses every new person, as a full disk would
    result = hub_env.run("sync", "aaf", expect=1)
    assert "Traceback" not in result.output
    assert "error: database error: no space left on device" in result.output and "nothing was applied" in result.output
    run = hub_env.rows("select status, message from run order by id desc limit 1")[0]
    assert run.status == "failed" and "no space left on device" in run.message
    assert hub_env.scalar("select count(*) from person") == 0 and hub_env.scalar("select count(*) from outbox") == 0


def test_a_database_error_while_staging_fails_the_run_and_leaves_no_staged_rows(hub_env):
    """On PostgreSQL the reader's children insert the people's rows themselves (hub.sync.stage): a refusal
    there fails the run as one in the core does, and the rows other children committed are cleared."""
    hub_env.run("demo", "--persons", "300", "generate")
    refuse_inserts(hub_env, "stage_person")
    result = hub_env.run("sync", "aaf", expect=1)
    assert "Traceback" not in result.output and "COPY" not in result.output
    assert "error: database error: no space left on device" in result.output and "nothing was applied" in result.output
    assert hub_env.scalar("select status from run order by id desc limit 1") == "failed"
    assert hub_env.scalar("select count(*) from person") == 0
    assert hub_env.scalar("select count(*) from stage_person") == 0


def refuse_inserts(hub_env, table: str) -> None:
    """The database refuses every row inserted into ``table``, as a full disk would."""
    engine = hub_env.engine()
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN "
                                 "SELECT RAISE(ABORT, 'no space left on device'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                                 "RAISE EXCEPTION 'no space left on device'; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse()")
    engine.dispose()
