"""The JSON API fuzzed by schemathesis from its own OpenAPI document: every answer (including to nonsense
parameters) is documented, JSON, and no server error; logged in as a viewer through the console's form."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from consoletest import PASSWORD, hold_a_run
from hypothesis import HealthCheck, given, settings


@pytest.fixture
def viewer_cookie(console) -> dict[str, str]:
    """The session cookie of a viewer logged in through the console's form, as an explicit Cookie header."""
    session = requests.Session()
    page = session.get(f"{console.url}/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    answer = session.post(f"{console.url}/admin/login", allow_redirects=False,
                          data={"username": "vic", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302
    return {"Cookie": f"session={session.cookies['session']}"}


@pytest.mark.slow
def test_the_api_answers_as_its_document_says(console, viewer_cookie):
    hold_a_run(console.env)  # something in every list
    schema = schemathesis.openapi.from_url(f"{console.url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case):
            case.call_and_validate(headers=viewer_cookie)

        answers_as_documented()
