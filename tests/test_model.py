"""Identifier rules: UAI and INE check letters."""

import pytest

from hub.errors import RecordError
from hub.model import check_letter, validate_ine, validate_uai


@pytest.mark.parametrize("uai", ["0750655E", "0150006a", " 0150006A "])
def test_valid_uai_is_canonical(uai):
    assert validate_uai(uai) == uai.strip().upper()


@pytest.mark.parametrize(("uai", "reason"), [
    ("0750655F", "check letter F, expected E"),
    ("075065E", "not 7 digits and a letter"),
    ("ABCDEFGH", "not 7 digits and a letter"),
    ("", "not 7 digits and a letter"),
])
def test_invalid_uai_names_record_and_reason(uai, reason):
    with pytest.raises(RecordError) as caught:
        validate_uai(uai, record="Eleve 1234")
    assert reason in str(caught.value)
    assert caught.value.record == "Eleve 1234"


def test_ine_check_letter_is_verified_for_the_all_digit_form():
    digits = "1234567890"
    good = digits + check_letter(digits)
    assert validate_ine(good) == good
    wrong = digits + ("A" if good[-1] != "A" else "B")
    with pytest.raises(RecordError, match="check letter"):
        validate_ine(wrong)


@pytest.mark.parametrize("ine", ["12345", "1234567890", "12345678901", "12345-7890A"])
def test_malformed_ine_is_refused(ine):
    with pytest.raises(RecordError, match="not 10 letters or digits and a letter"):
        validate_ine(ine)


def test_alphanumeric_ine_forms_are_accepted():
    assert validate_ine("070123456ab") == "070123456AB"


def test_a_value_wider_than_its_column_is_the_records_error():
    from hub.model import Person, PersonKind
    from hub.sync.normalize import normalize_person

    with pytest.raises(RecordError, match=r"last name 'XXXX.*is 250 characters, more than 200"):
        normalize_person(Person(PersonKind.PARENT, "X" * 250, "Léa", jointure="1", source_ref="f.xml:3"))
