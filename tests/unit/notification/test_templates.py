"""Templates: both languages, administrative content only, honest Art. 34 notices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.notification.templates import TEMPLATES, format_datetime, render

# Sentinels for fields no template may ever show, passed in as if by mistake.
REASON = "Sentinel-Reason-Migraine"
NOTES = "Sentinel-Notes-Prescription"
SPECIALTY = "Sentinel-Specialty-Psychiatrie"
MEDICAL_WORDS = ("motif", "reason", "diagnos", "notes", "spécialité", "specialty", "médical")


def context(**overrides: Any) -> dict[str, Any]:
    """A full synthetic context, with medical fields that must stay out of every message."""
    base: dict[str, Any] = {
        "given_name": "Test",
        "family_name": "Patient",
        "practitioner_name": "Dr Test Practitioner",
        "start": datetime(2030, 1, 1, 8, 0, tzinfo=UTC),  # 09:00 in Paris (winter, UTC+1)
        "previous_start": datetime(2030, 7, 14, 7, 30, tzinfo=UTC),  # 09:30 in Paris (summer)
        "organisation": "Cabinet Test",
        "appointments": [
            {"start": datetime(2030, 1, 2, 13, 15, tzinfo=UTC), "practitioner_name": "Dr Second"},
            {"start": datetime(2030, 1, 1, 8, 0, tzinfo=UTC), "practitioner_name": "Dr First"},
        ],
        "first_access_at": datetime(2030, 2, 1, 10, 0, tzinfo=UTC),
        "last_access_at": datetime(2030, 2, 3, 22, 45, tzinfo=UTC),
        "field_classes": ["administrative"],
        "dpo_contact": "dpo@example.org",
        "measures_taken": "Connector access suspended; tokens revoked.",
        "reason": REASON,
        "reason_for_visit": REASON,
        "notes": NOTES,
        "specialty": SPECIALTY,
    }
    return {**base, **overrides}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_names_and_date_in_both_languages(template: str, language: str):
    subject, body = render(template, language, context())
    assert subject and "\n" not in subject
    assert body.startswith(("Bonjour Test Patient,", "Hello Test Patient,"))
    assert "Cabinet Test" in body
    when = (
        "mardi 1er janvier 2030 à 09:00" if language == "fr" else "Tuesday 1 January 2030 at 09:00"
    )
    assert when in body
    if template != "breach_notice_art34":
        assert "Dr Test Practitioner" in body
        assert when in subject


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_no_medical_field_or_specialty_ever_reaches_a_message(template: str, language: str):
    for classes in (["administrative"], ["administrative", "sensitive", "medical"]):
        subject, body = render(template, language, context(field_classes=classes))
        for sentinel in (REASON, NOTES, SPECIALTY):
            assert sentinel not in subject + body


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("template", [t for t in TEMPLATES if t != "breach_notice_art34"])
def test_everyday_messages_do_not_even_mention_medical_topics(template: str, language: str):
    subject, body = render(template, language, context())
    text = (subject + body).lower()
    assert not [word for word in MEDICAL_WORDS if word in text]


def test_languages_differ_and_unknown_language_falls_back_to_french():
    fr = render("appointment_booked", "fr", context())
    assert render("appointment_booked", "en", context()) != fr
    assert render("appointment_booked", "de", context()) == fr
    assert render("appointment_booked", "fr-FR", context()) == fr
    assert render("appointment_booked", "en-GB", context())[0].startswith("Appointment")


def test_reschedule_shows_old_and_new_times_in_paris_time():
    _, body = render("appointment_rescheduled", "fr", context())
    assert "dimanche 14 juillet 2030 à 09:30" in body  # summer time: UTC+2
    assert "mardi 1er janvier 2030 à 09:00" in body
    _, body = render("appointment_rescheduled", "en", context())
    assert "Sunday 14 July 2030 at 09:30" in body


def test_dates_use_own_day_and_month_names():
    moment = datetime(2030, 8, 15, 16, 5, tzinfo=UTC)
    assert format_datetime(moment, "fr") == "jeudi 15 août 2030 à 18:05"
    assert format_datetime(moment, "en") == "Thursday 15 August 2030 at 18:05"
    assert format_datetime("2030-12-02T08:00:00+00:00", "fr") == "lundi 2 décembre 2030 à 09:00"


def test_naive_times_and_unknown_templates_are_refused():
    with pytest.raises(ValueError):
        render("appointment_booked", "fr", context(start=datetime(2030, 1, 1, 9, 0)))
    with pytest.raises(ValueError):
        render("appointment_lost", "fr", context())
    with pytest.raises(KeyError):
        render("appointment_rescheduled", "fr", context(previous_start=None))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_breach_notice_lists_each_appointment_and_the_access_window(language: str):
    _, body = render("breach_notice_art34", language, context())
    if language == "fr":
        first = "- mardi 1er janvier 2030 à 09:00, avec Dr First"
        second = "- mercredi 2 janvier 2030 à 14:15, avec Dr Second"
        window = "entre le vendredi 1er février 2030 à 11:00 et le dimanche 3 février 2030 à 23:45"
    else:
        first = "- Tuesday 1 January 2030 at 09:00, with Dr First"
        second = "- Wednesday 2 January 2030 at 14:15, with Dr Second"
        window = "between Friday 1 February 2030 at 11:00 and Sunday 3 February 2030 at 23:45"
    assert first in body and second in body
    assert body.index(first) < body.index(second)  # chronological, whatever the input order
    assert window in body
    assert "dpo@example.org" in body
    assert "Connector access suspended; tokens revoked." in body


def test_breach_notice_says_no_medical_information_was_read_when_none_was():
    _, fr = render("breach_notice_art34", "fr", context(field_classes=["administrative"]))
    _, en = render("breach_notice_art34", "en", context(field_classes=["administrative"]))
    assert "Aucune information médicale" in fr and "motif de consultation" in fr
    assert "No medical information" in en and "reason for the visit" in en
    assert "Informations sensibles" not in fr and "Sensitive information" not in en


def test_breach_notice_is_honest_when_medical_information_was_read():
    classes = ["administrative", "sensitive", "medical"]
    _, fr = render("breach_notice_art34", "fr", context(field_classes=classes))
    _, en = render("breach_notice_art34", "en", context(field_classes=classes))
    assert "Aucune information médicale" not in fr and "No medical information" not in en
    assert "Des informations médicales font donc partie des informations consultées" in fr
    assert "Medical information was therefore among the information read" in en
    for line in (
        "- Informations administratives",
        "- Informations sensibles",
        "- Informations médicales",
    ):
        assert line in fr


@pytest.mark.parametrize("language", ["fr", "en"])
def test_breach_notice_covers_consequences_and_advice(language: str):
    _, body = render("breach_notice_art34", language, context())
    expected = (
        ("hameçonnage", "SMS", "mots de passe", "coordonnées bancaires", "numéro habituel", "CNIL")
        if language == "fr"
        else ("phishing", "text message", "passwords", "bank details", "usual phone number", "CNIL")
    )
    for phrase in expected:
        assert phrase in body


def test_breach_notice_refuses_what_it_could_not_state_truthfully():
    with pytest.raises(ValueError):
        render("breach_notice_art34", "fr", context(field_classes=["administrative", "genetic"]))
    with pytest.raises(ValueError):
        render("breach_notice_art34", "fr", context(appointments=[]))
    with pytest.raises(KeyError):
        render("breach_notice_art34", "fr", context(dpo_contact=None))


def test_dollar_signs_in_supplied_text_are_kept_verbatim():
    _, body = render("breach_notice_art34", "en", context(measures_taken="Audit by $organisation"))
    assert "Audit by $organisation" in body
