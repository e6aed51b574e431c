"""What is sent again when the PBX refuses a guest operation (pmsbridge.ledger.degrade)."""

from pmsbridge.ledger.degrade import degraded_sentence, named_field, reduce

FIELDS = {"account": "R1", "firstname": "Ann", "lastname": "Doe", "vipcode": "V1", "language": "xx",
          "datein": "2030-01-01T14:00", "dateout": "2030-01-03T11:00", "cos": 3}


def test_the_retry_keeps_name_and_dates_and_remembers_the_named_field_as_refused():
    reduction = reduce("checkin", FIELDS, "vipcode must be a number")
    assert reduction.fields == {"firstname": "Ann", "lastname": "Doe", "datein": "2030-01-01T14:00",
                                "dateout": "2030-01-03T11:00"}
    assert reduction.refused == {"vipcode": "V1"}


def test_an_error_naming_no_field_makes_every_optional_field_refused():
    assert reduce("update", FIELDS, "failed to operate data").refused == {
        "vipcode": "V1", "language": "xx", "account": "R1", "cos": 3}


def test_the_first_field_named_counts():
    assert named_field("language 'xx' unknown; vipcode too") == "language"
    assert named_field("Language invalid") == "language"
    assert named_field("no such extension") is None


def test_only_guest_operations_with_optional_fields_degrade():
    assert reduce("wakeup", {"w_action": 1}, "vipcode") is None
    assert reduce("checkin", {"lastname": "Doe"}, "failed") is None


def test_the_rooms_flag_in_the_hotels_words():
    assert degraded_sentence("checkin", {"vipcode": "V1"}) == "checked in without VIP: the PBX refused 'V1'"
    assert degraded_sentence("update", {"language": "xx", "cos": 3}) == (
        "guest details sent without language and class of service: the PBX refused 'xx', '3'")
