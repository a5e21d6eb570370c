"""Plain-text notification templates in French and English: administrative content only.

No template reads a reason for visit, a note, a document or a practitioner's specialty (a
specialty can itself reveal health information): only names, dates and the practitioner's
name ever reach a message, whatever else the context holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
TEMPLATES = (
    "appointment_booked",
    "appointment_rescheduled",
    "appointment_cancelled",
    "appointment_reminder",
    "breach_notice_art34",
)

# Our own names: system locales differ between machines and are often absent in containers.
_DAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip


def normalise_language(language: str | None) -> str:
    """'fr', 'fr-FR' or 'en_GB' -> 'fr'/'en'; anything else is French, the platform default."""
    code = (language or "").replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def format_datetime(value: datetime | str, language: str) -> str:
    """Paris local time as a patient reads it: 'mardi 1er janvier 2030 à 09:00'."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        # A naive time would be silently read as Paris time, possibly an hour off: refuse.
        raise ValueError("notification times must be timezone-aware")
    local = moment.astimezone(PARIS)
    day, month = _DAYS[language][local.weekday()], _MONTHS[language][local.month - 1]
    if language == "fr":
        number = "1er" if local.day == 1 else str(local.day)
        return f"{day} {number} {month} {local.year} à {local:%H:%M}"
    return f"{day} {local.day} {month} {local.year} at {local:%H:%M}"


_SIGNATURE = {
    "fr": "Ce message est envoyé automatiquement, merci de ne pas y répondre.\n$organisation",
    "en": "This message was sent automatically, please do not reply.\n$organisation",
}
_GREETING = {"fr": "Bonjour $patient,", "en": "Hello $patient,"}
_IF_YOU_CANNOT = {
    "fr": "Si vous ne pouvez pas vous y rendre, merci d'annuler ou de déplacer ce rendez-vous "
    "au plus tôt afin de libérer le créneau.",
    "en": "If you cannot attend, please cancel or reschedule this appointment as early as "
    "possible so that the slot can be offered to someone else.",
}

# template -> language -> (subject, main paragraphs); greeting and signature are added around.
_SIMPLE: dict[str, dict[str, tuple[str, str]]] = {
    "appointment_booked": {
        "fr": ("Rendez-vous confirmé le $start",
               "Votre rendez-vous$with est confirmé pour le $start.\n\n" + _IF_YOU_CANNOT["fr"]),
        "en": ("Appointment confirmed on $start",
               "Your appointment$with is confirmed for $start.\n\n" + _IF_YOU_CANNOT["en"]),
    },
    "appointment_rescheduled": {
        "fr": ("Rendez-vous déplacé au $start",
               "Votre rendez-vous$with, initialement prévu le $previous_start, a été déplacé "
               "au $start.\n\n" + _IF_YOU_CANNOT["fr"]),
        "en": ("Appointment moved to $start",
               "Your appointment$with, originally planned for $previous_start, has been moved "
               "to $start.\n\n" + _IF_YOU_CANNOT["en"]),
    },
    "appointment_cancelled": {
        "fr": ("Rendez-vous du $start annulé",
               "Votre rendez-vous$with prévu le $start a été annulé.\n\n"
               "Pour prendre un nouveau rendez-vous, contactez le cabinet ou réservez en ligne."),
        "en": ("Appointment on $start cancelled",
               "Your appointment$with planned for $start has been cancelled.\n\n"
               "To book a new appointment, contact the practice or book online."),
    },
    "appointment_reminder": {
        "fr": ("Rappel : rendez-vous le $start",
               "Nous vous rappelons votre rendez-vous$with le $start.\n\n"
               + _IF_YOU_CANNOT["fr"]),
        "en": ("Reminder: appointment on $start",
               "This is a reminder of your appointment$with on $start.\n\n"
               + _IF_YOU_CANNOT["en"]),
    },
}  # fmt: skip


def _require(context: Mapping[str, Any], key: str) -> Any:
    """A missing key names itself (never its neighbours' values, which are personal data)."""
    if key not in context or context[key] is None:
        raise KeyError(f"template context lacks {key!r}")
    return context[key]


def _patient(context: Mapping[str, Any]) -> str:
    """'Given Family', tolerating an empty given name (FHIR allows it)."""
    parts = (context.get("given_name"), _require(context, "family_name"))
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def _with(name: Any, language: str) -> str:
    """' avec Dr X' / ' with Dr X', or nothing when the practitioner's name is unknown."""
    name = str(name or "").strip()
    return f" {'avec' if language == 'fr' else 'with'} {name}" if name else ""


def _wrap(language: str, patient: str, organisation: str, main: str) -> str:
    """Greeting, the message, then the signature: the same frame for every template."""
    # Substituted apart from `main`, so a '$' in a name or in measures_taken stays as written.
    greeting = Template(_GREETING[language]).substitute(patient=patient)
    signature = Template(_SIGNATURE[language]).substitute(organisation=organisation)
    return f"{greeting}\n\n{main}\n\n{signature}\n"


def _render_simple(template: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Confirmation, reschedule, cancellation and reminder: one appointment, two dates at most."""
    subject, main = _SIMPLE[template][language]
    values = {
        "start": format_datetime(_require(context, "start"), language),
        "with": _with(context.get("practitioner_name"), language),
    }
    if template == "appointment_rescheduled":
        values["previous_start"] = format_datetime(_require(context, "previous_start"), language)
    organisation = str(context.get("organisation") or "Carnet")
    body = _wrap(language, _patient(context), organisation, Template(main).substitute(values))
    return Template(subject).substitute(values), body


_BREACH_SUBJECT = {
    "fr": "Information importante : accès non autorisé à des informations de vos rendez-vous",
    "en": "Important: unauthorised access to some of your appointment details",
}
_BREACH_BODY = {
    "fr": """Nous vous écrivons pour vous informer d'un incident de sécurité qui concerne certaines de vos données personnelles. Nous sommes tenus de vous en avertir (article 34 du RGPD) et nous tenons à vous expliquer clairement ce qui s'est passé.

Ce qui s'est passé
L'interface par laquelle des logiciels tiers de gestion de cabinet se connectent à notre plateforme a été utilisée pour consulter, sans autorisation légitime, certaines informations de vos rendez-vous. Ces consultations ont eu lieu $window (heure de Paris).

Vos rendez-vous concernés
$appointments

Les informations consultées
$classes

$medical

Les conséquences possibles
Une personne malveillante pourrait se servir de ces informations pour vous contacter par e-mail, SMS ou téléphone en se faisant passer pour votre cabinet, notre plateforme ou un organisme de santé, et citer votre rendez-vous pour paraître crédible (hameçonnage).

Ce que nous vous conseillons
- Méfiez-vous de tout message ou appel qui mentionne votre rendez-vous et vous demande d'agir : cliquer sur un lien, payer, confirmer des informations.
- Ne communiquez jamais vos mots de passe ni vos coordonnées bancaires, même à quelqu'un qui connaît votre rendez-vous.
- En cas de doute, contactez votre cabinet à son numéro habituel, jamais à un numéro indiqué dans le message reçu.

Ce que nous avons fait
$measures

Pour toute question
Vous pouvez contacter notre délégué à la protection des données : $dpo
Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr).""",  # noqa: E501 - paragraphs stay unwrapped: mail clients reflow them
    "en": """We are writing to tell you about a security incident that concerns some of your personal data. We are required to inform you (Article 34 of the GDPR), and we want to explain clearly what happened.

What happened
The interface through which third-party practice management software connects to our platform was used, without legitimate authorisation, to read some details of your appointments. This access took place $window (Paris time).

Your appointments concerned
$appointments

The information that was read
$classes

$medical

Possible consequences
Someone could use this information to contact you by e-mail, text message or phone while pretending to be your practice, our platform or a health organisation, quoting your appointment to seem genuine (phishing).

What we recommend
- Be wary of any message or call that mentions your appointment and asks you to act: click a link, pay, or confirm information.
- Never give your passwords or bank details, even to someone who knows about your appointment.
- If in doubt, contact your practice on its usual phone number, never on a number given in the message.

What we have done
$measures

Questions
You can contact our data protection officer: $dpo
You can also lodge a complaint with the French data protection authority, the CNIL (www.cnil.fr).""",  # noqa: E501
}  # fmt: skip
_FIELD_CLASSES = {
    "administrative": {
        "fr": "- Informations administratives : votre identité (nom, prénom, sexe, date de "
        "naissance), vos coordonnées (téléphone, adresse e-mail) ainsi que la date, l'heure, "
        "le praticien et le statut du rendez-vous.",
        "en": "- Administrative information: your identity (name, sex, date of birth), your "
        "contact details (phone number, e-mail address) and the appointment's date, time, "
        "practitioner and status.",
    },
    "sensitive": {
        "fr": "- Informations sensibles : la spécialité du praticien ou le type de consultation. "
        "Elles ne décrivent pas votre santé, mais peuvent en laisser deviner quelque chose.",
        "en": "- Sensitive information: the practitioner's specialty or the type of "
        "consultation. It does not describe your health, but may hint at it.",
    },
    "medical": {
        "fr": "- Informations médicales : le motif de consultation, les notes du praticien ou "
        "des documents médicaux.",
        "en": "- Medical information: the reason for the visit, the practitioner's notes or "
        "medical documents.",
    },
}
_MEDICAL_STATEMENT = {
    ("fr", False): "Aucune information médicale, comme le motif de consultation, les notes du "
    "praticien ou des documents médicaux, n'a été consultée.",
    ("en", False): "No medical information, such as the reason for the visit, the "
    "practitioner's notes or medical documents, was read.",
    ("fr", True): "Des informations médicales font donc partie des informations consultées. "
    "Nous mesurons la gravité de cette situation et vous prions de nous en excuser.",
    ("en", True): "Medical information was therefore among the information read. We "
    "understand how serious this is and we apologise.",
}


def _access_window(context: Mapping[str, Any], language: str) -> str:
    """'entre le X et le Y' / 'between X and Y', or a single moment when both are the same."""
    first = format_datetime(_require(context, "first_access_at"), language)
    last = format_datetime(_require(context, "last_access_at"), language)
    if first == last:
        return f"le {first}" if language == "fr" else f"on {first}"
    return f"entre le {first} et le {last}" if language == "fr" else f"between {first} and {last}"


def _render_breach(template: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The GDPR Art. 34 notice: what, which appointments, when, which data, risks, advice."""
    appointments = list(_require(context, "appointments"))
    if not appointments:
        raise ValueError("a breach notice names at least one appointment")
    classes = set(_require(context, "field_classes"))
    unknown = classes - set(_FIELD_CLASSES)
    if unknown:
        # Explaining an unknown class is impossible, and silently leaving it out would be a lie.
        raise ValueError(f"unknown field classes {sorted(unknown)}")
    lines = [
        f"- {format_datetime(_require(a, 'start'), language)}"
        + (f",{_with(a.get('practitioner_name'), language)}" if a.get("practitioner_name") else "")
        for a in sorted(appointments, key=lambda a: _aware(a["start"]))
    ]
    values = {
        "window": _access_window(context, language),
        "appointments": "\n".join(lines),
        "classes": "\n".join(_FIELD_CLASSES[c][language] for c in _FIELD_CLASSES if c in classes),
        "medical": _MEDICAL_STATEMENT[(language, "medical" in classes)],
        "measures": str(_require(context, "measures_taken")).strip(),
        "dpo": str(_require(context, "dpo_contact")).strip(),
    }
    main = Template(_BREACH_BODY[language]).substitute(values)
    organisation = str(_require(context, "organisation"))
    return _BREACH_SUBJECT[language], _wrap(language, _patient(context), organisation, main)


def _aware(value: datetime | str) -> datetime:
    """Sort key for appointment times given as datetimes or ISO strings."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def render(template: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body) for one patient; an unknown language gets French, the default.

    Dates are shown in Europe/Paris local time. Only the context keys named in each template
    are read, so a reason for visit or a specialty passed by mistake can never leak.
    """
    lang = normalise_language(language)
    if template in _SIMPLE:
        return _render_simple(template, lang, context)
    if template == "breach_notice_art34":
        return _render_breach(template, lang, context)
    raise ValueError(f"unknown notification template {template!r}")
