"""Tickets through the GLPI legacy API, end to end: `hub ticket open` routes and opens, `hub tickets` lists with
the status polled from GLPI; GLPI down, slow, expiring sessions, refusing: nothing lost, nothing twice."""

from __future__ import annotations

import pytest


def _open(env, *args, expect=0):
    return env.run("ticket", "open", "--uai", env.college, "--title", "Vidéoprojecteur salle 12",
                   "--content", "L'écran reste noir <HDMI>.", *args, expect=expect).output


def test_a_ticket_opens_in_the_destination_of_its_rule_with_its_fields(desk, glpi):
    out = _open(desk, "--domain", "ZP", "--urgency", "4", "--requester", "referent@college.fr")
    assert "→ departement by rule 'ZP: département'" in out and "opened" in out
    (ticket,) = glpi.tickets.values()
    reference = desk.scalar("select reference from ticket")
    assert ticket["name"] == f"[{reference}] Vidéoprojecteur salle 12"
    assert ticket["entities_id"] == 3 and ticket["itilcategories_id"] == 11 and ticket["urgency"] == 4
    assert ticket["type"] == 1 and ticket["_users_id_requester"] == 7
    assert ticket["_users_id_requester_notif"]["alternative_email"] == ["referent@college.fr"]
    assert "&lt;HDMI&gt;" in ticket["content"] and desk.college in ticket["content"]
    assert desk.scalar("select remote_id from ticket") == str(ticket["id"])
    assert glpi.count("GET initSession") == glpi.count("GET killSession") == 1  # sessions are closed
    assert glpi.count("POST changeActiveEntities") == 1


def test_building_tickets_go_to_the_omere_group_of_the_unit(desk, glpi):
    out = _open(desk, "--domain", "bâti")
    assert "→ omere by rule 'bâti UT2'" in out
    (ticket,) = glpi.tickets.values()
    assert ticket["_groups_id_assign"] == 22 and ticket["entities_id"] == 0


def test_hub_tickets_lists_them_with_the_status_polled_from_glpi(desk, glpi):
    for _ in range(3):
        _open(desk, "--domain", "ZA")  # ZA not taken over: the rectorat's PASS
    glpi.set_status(2, 2)
    glpi.set_status(3, 5)
    desk.run("tickets", "poll")
    out = desk.run("tickets").output
    assert out.count("pass") >= 3 and "processing" in out and "solved" in out
    statuses = dict(desk.rows("select remote_id, remote_status from ticket"))
    assert statuses == {"1": "new", "2": "processing", "3": "solved"}


def test_status_polling_reads_every_page(desk, glpi):
    settings = desk.config.read_text().replace("timeout_seconds = 0.5", "timeout_seconds = 0.5\npage_size = 2")
    desk.config.write_text(settings)
    for _ in range(5):
        _open(desk, "--domain", "ent")
    for ticket_id in range(1, 6):
        glpi.set_status(ticket_id, 4)
    searches = glpi.count("GET search/Ticket")
    desk.run("tickets", "poll")
    assert glpi.count("GET search/Ticket") - searches == 3  # 2 + 2 + 1
    assert {s for (s,) in desk.rows("select remote_status from ticket")} == {"pending"}


@pytest.mark.slow  # a fresh sync on each database
def test_glpi_down_keeps_the_request_and_sends_it_once_it_is_back(desk_any_db, glpi):
    desk = desk_any_db
    glpi.down = True
    out = _open(desk, "--domain", "ZP")
    assert "kept, will be retried" in out and "503" in out
    assert "1 to send" in desk.run("tickets").output
    desk.run("tickets", "send")  # still down: kept again
    glpi.down = False
    desk.run("tickets", "send", "--now")
    assert len(glpi.tickets) == 1 and desk.scalar("select remote_id from ticket") == "1"
    assert desk.scalar("select status from ticket_request") == "done"
    desk.run("tickets", "send", "--now")
    assert len(glpi.tickets) == 1


def test_a_slow_glpi_that_did_open_the_ticket_is_not_asked_twice(desk, glpi):
    glpi.slow_after_create = 1.0  # the hub times out after 0.5 s, though GLPI created the ticket
    out = _open(desk, "--domain", "ZP")
    assert "kept, will be retried" in out and "did not answer" in out
    glpi.slow_after_create = 0
    desk.run("tickets", "send", "--now")
    assert len(glpi.tickets) == 1  # found by its reference, not created again
    assert desk.scalar("select remote_id from ticket") == "1"


def test_a_session_expiring_mid_call_is_renewed_and_the_call_retried(desk, glpi):
    calls = []

    @glpi_expire_after(glpi, "GET search/Ticket", calls)
    def _():
        _open(desk, "--domain", "ZP")

    assert len(glpi.tickets) == 1 and glpi.count("GET initSession") == 2
    assert calls == ["expired"]


def glpi_expire_after(glpi, call, calls):
    """Run the block with every session expired right after the first ``call``."""
    def decorate(block):
        app_calls = glpi.calls

        class Watch(list):
            def append(self, item):
                super().append(item)
                if item == call and not calls:
                    calls.append("expired")
                    glpi.expire_sessions()

        glpi.calls = Watch(app_calls)
        try:
            block()
        finally:
            glpi.calls = list(glpi.calls)
    return decorate


@pytest.mark.parametrize(("change", "words"), [
    ({"HUB_HELPDESK__DESTINATIONS__DEPARTEMENT__USER_TOKEN": "wrong"}, "ERROR_GLPI_LOGIN_USER_TOKEN"),
    ({"HUB_HELPDESK__DESTINATIONS__DEPARTEMENT__USER_TOKEN": "reader-secret"}, "ERROR_RIGHT_MISSING"),
    ({"HUB_HELPDESK__DESTINATIONS__DEPARTEMENT__APP_TOKEN": "nope"}, "ERROR_WRONG_APP_TOKEN_PARAMETER"),
])
def test_a_refusal_is_kept_with_glpi_words_until_an_operator_retries(desk, glpi, monkeypatch, change, words):
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    out = _open(desk, "--domain", "ZP", expect=1)
    assert words in out and "hub tickets retry HUB-" in out
    assert glpi.tickets == {}
    assert "1 refused" in desk.run("tickets").output
    desk.run("tickets", "send", "--now")  # a refused request waits for the operator
    assert glpi.tickets == {}
    for name in change:
        monkeypatch.setenv(name, "user-secret" if name.endswith("USER_TOKEN") else "app-secret")
    reference = desk.scalar("select reference from ticket")
    desk.run("tickets", "retry", reference)
    desk.run("tickets", "send")
    assert len(glpi.tickets) == 1


def test_glpi_validation_errors_are_shown_with_the_field(desk, glpi):
    desk.config.write_text(desk.config.read_text().replace("categories = { ZP = 11", "categories = { ZP = 99"))
    out = _open(desk, "--domain", "ZP", expect=1)
    assert "ERROR_GLPI_ADD" in out and "ITIL category 99 does not exist" in out


def test_while_another_process_sends_the_request_is_kept_for_it(desk, glpi):
    with desk.lock_held_elsewhere("helpdesk"):
        out = _open(desk, "--domain", "ZP")
        assert "kept" in out and "another process is sending tickets" in out
        assert "already running" in desk.run("tickets", "send", expect=4).output
    assert glpi.tickets == {}
    desk.run("tickets", "send")
    assert len(glpi.tickets) == 1


@pytest.mark.slow  # a real process, killed
def test_a_sender_killed_after_glpi_opened_the_ticket_leaves_no_duplicate(desk, glpi):
    import os
    import time

    glpi.down = True
    _open(desk, "--domain", "ZP")  # kept
    glpi.down, glpi.slow_after_create = False, 30.0
    sender = desk.spawn("tickets", "send", "--now", env={k: v for k, v in os.environ.items()
                                                          if k.startswith("HUB_HELPDESK")})
    deadline = time.monotonic() + 20
    while not glpi.tickets and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.kill()  # GLPI has the ticket; the hub never heard back
    sender.wait()
    assert len(glpi.tickets) == 1 and desk.scalar("select remote_id from ticket") is None
    glpi.slow_after_create = 0
    desk.run("tickets", "send", "--now")  # the dead sender's lock is taken over
    assert len(glpi.tickets) == 1 and desk.scalar("select remote_id from ticket") == "1"
