"""Every form of machine mail is recognised with its reasons; people who write about bounces stay people."""

from __future__ import annotations

import pytest

from tui_helpdesk.domain.mail.loops import AUTO_REPLY, BOUNCE, HUMAN, answerable, classify
from tui_helpdesk.domain.mail.message import parse_message

from ..machine_mail import FAILURE_SUBJECTS, MACHINE_FORMS, PERSON_FORMS, message, provider_notification


@pytest.mark.parametrize("form", sorted(MACHINE_FORMS))
def test_machine_mail_is_never_a_person(form: str) -> None:
    parsed = parse_message(MACHINE_FORMS[form](0))
    result = classify(parsed)
    assert result.kind != HUMAN, result
    assert not answerable(parsed, result)
    assert result.reason and result.evidence and result.reason.startswith(result.evidence[0])


@pytest.mark.parametrize("form", sorted(PERSON_FORMS))
def test_people_writing_about_machines_are_people(form: str) -> None:
    parsed = parse_message(PERSON_FORMS[form]())
    result = classify(parsed)
    assert result.kind == HUMAN, result
    assert answerable(parsed, result)


@pytest.mark.parametrize("lang", sorted(FAILURE_SUBJECTS))
def test_postmaster_bounces_in_many_languages(lang: str) -> None:
    result = classify(MACHINE_FORMS[f"post_master-{lang}"](0))
    assert result.kind == BOUNCE
    assert "postmaster" in result.reason and "delivery-failure subject" in result.reason


def test_a_subject_alone_or_a_postmaster_alone_is_not_enough() -> None:
    assert classify(message(sender="Dana <dana@example.com>", subject=FAILURE_SUBJECTS["de"], body="?")).kind == HUMAN
    postmaster = classify(message(sender="postmaster@example.com", subject="SPF record question", body="Hi"))
    assert postmaster.kind == HUMAN and "weak signs only" in postmaster.reason


def test_provider_bounce_names_the_message_and_the_recipient() -> None:
    for wrapped in (False, True):
        result = classify(provider_notification("bounce", "<orig-7@desk.test>", "gone@example.org", wrapped=wrapped))
        assert result.kind == BOUNCE
        assert result.original_message_id == "<orig-7@desk.test>"
        [r] = result.recipients
        assert (r.address, r.action, r.status, r.failed) == ("gone@example.org", "failed", "5.1.1", True)
    complaint = classify(provider_notification("complaint"))
    assert complaint.kind == AUTO_REPLY and "complaint" in complaint.reason


def test_abuse_complaint_points_at_the_forwarded_message() -> None:
    result = classify(MACHINE_FORMS["abuse-forwarded"](0))
    assert result.kind == AUTO_REPLY and "abuse" in result.reason
    assert result.original_message_id == "<sent-9@desk.test>"


def test_only_real_addresses_are_answerable() -> None:
    for sender in ("dana@localhost", "noreply@example.com", "postmaster@example.com", "<>"):
        parsed = parse_message(message(sender=sender, subject="Hello", body="Hi"))
        assert not answerable(parsed, classify(parsed)), sender
