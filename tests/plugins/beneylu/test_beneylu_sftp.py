"""The SFTP upload against the real test server: files replaced whole, faults named and classed."""

from __future__ import annotations

import socket
from pathlib import PurePosixPath

import pytest

from hub.errors import DeliveryError
from plugins.beneylu.sftp import Server, Session

FOLDER = PurePosixPath("/beneylu/0151001G")


def server(sftp_server, **changes) -> Server:
    values = {"host": "127.0.0.1", "port": sftp_server.port, "username": sftp_server.user,
              "host_key_fingerprint": sftp_server.fingerprint, "password": sftp_server.password,
              "timeout_seconds": 5, **changes}
    return Server(**values)


def test_a_file_is_replaced_whole_and_no_temporary_file_stays(sftp_server):
    with Session(server(sftp_server)) as session:
        session.put(FOLDER, "CSVExtraction-eleves.csv", b"old")
        session.put(FOLDER, "CSVExtraction-eleves.csv", b"new")
    assert sftp_server.files() == {"beneylu/0151001G/CSVExtraction-eleves.csv": b"new"}


def test_a_failed_rename_leaves_the_final_name_as_it_was_and_no_half_file(sftp_server):
    with Session(server(sftp_server)) as session:
        session.put(FOLDER, "CSVExtraction-eleves.csv", b"complete")
    blocker = sftp_server.root / "beneylu/0151001G/CSVExtraction-enseignants.csv"
    blocker.mkdir()  # a folder under the final name: the rename onto it fails on the server
    with Session(server(sftp_server)) as session, pytest.raises(DeliveryError) as failed:
        session.put(FOLDER, "CSVExtraction-enseignants.csv", b"x" * 200_000)
    assert "write /beneylu/0151001G/CSVExtraction-enseignants.csv" in str(failed.value)
    assert blocker.is_dir() and not any(blocker.iterdir())
    assert sftp_server.files() == {"beneylu/0151001G/CSVExtraction-eleves.csv": b"complete"}  # no .part left


def test_a_read_only_folder_is_refused_for_good_with_the_servers_words(sftp_server):
    with Session(server(sftp_server)) as session:
        session.put(FOLDER, "a.csv", b"a")
    (sftp_server.root / "beneylu/0151001G").chmod(0o555)
    with Session(server(sftp_server)) as session, pytest.raises(DeliveryError) as failed:
        session.put(FOLDER, "b.csv", b"b")
    assert not failed.value.retryable and "the server refused: Permission denied" in str(failed.value)


def test_connection_faults_are_retryable_and_name_the_server(sftp_server):
    wrong = "wrong-password-77"
    with pytest.raises(DeliveryError) as refused:
        Session(server(sftp_server, password=wrong))
    assert refused.value.retryable and "authentication refused for user 'hub'" in str(refused.value)
    assert wrong not in str(refused.value) and f"127.0.0.1:{sftp_server.port}" in str(refused.value)
    sftp_server.stop()
    with pytest.raises(DeliveryError) as down:
        Session(server(sftp_server))
    assert down.value.retryable and "Unable to connect" in str(down.value)


def test_a_server_that_never_answers_times_out(sftp_server):
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(DeliveryError) as slow:
            Session(server(sftp_server, port=silent.getsockname()[1], timeout_seconds=1))
    assert slow.value.retryable and "timed out after 1 s" in str(slow.value)


def test_an_unknown_host_key_is_refused(sftp_server):
    with pytest.raises(DeliveryError) as refused:
        Session(server(sftp_server, host_key_fingerprint="SHA256:" + "B" * 43))
    assert not refused.value.retryable and sftp_server.fingerprint in str(refused.value)
    assert sftp_server.files() == {}
