"""One synthetic JSON-form payload per event type: obviously fake people, example.org, +33 6 00."""

from __future__ import annotations

from typing import Any


def fake_id(n: int) -> str:
    """A readable, obviously synthetic UUID (version 4 layout)."""
    return f"00000000-0000-4000-8000-{n:012d}"


PRACTITIONER = fake_id(1)
PATIENT = fake_id(2)
CONNECTOR = fake_id(3)
APPOINTMENT = fake_id(4)
SLOT = fake_id(5)
OTHER_SLOT = fake_id(6)
PRINCIPAL = fake_id(7)
INCIDENT = fake_id(8)
DETECTION = fake_id(9)

SEALED = {
    "key_id": "patient-key-00000000-0000-4000-8000-000000000002",
    "nonce": "AAAAAAAAAAAAAAAA",
    "ciphertext": "c3ludGhldGljIGNpcGhlcnRleHQ=",
}

PATIENT_REGISTERED_V1: dict[str, Any] = {
    "patient_id": PATIENT,
    "name": "Test Patient",
    "birth_date": "1990-01-01",
    "gender": "unknown",
    "email": "test.patient@example.org",
    "phone": "+33 6 00 00 00 00",
}

# The V2 payloads of the types V3 extends (issue #19), kept for the upcast tests.
APPOINTMENTS_ACCESSED_V2: dict[str, Any] = {
    "access_id": fake_id(14),
    "principal_kind": "connector",
    "principal_id": CONNECTOR,
    "connector_id": CONNECTOR,
    "network_address": "198.51.100.7",
    "user_agent": "AgendaSync/4.2",
    "request_id": "req-0002",
    "operation": "search",
    "query": "practitioner=" + PRACTITIONER + "&date=ge2030-01-02",
    "purpose": "agenda_sync",
    "appointment_ids": [APPOINTMENT],
    "patient_ids": [PATIENT],
    "practitioner_ids": [PRACTITIONER],
    "entries": [
        {"appointment_id": APPOINTMENT, "patient_id": PATIENT, "practitioner_id": PRACTITIONER}
    ],
    "field_classes": ["administrative", "sensitive"],
    "medical_decrypted": False,
    "result_count": 1,
    "outcome": "success",
    "denial_reason": None,
}

SUSPICIOUS_ACCESS_DETECTED_V2: dict[str, Any] = {
    "detection_id": DETECTION,
    "rule": "D1_volume",
    "severity": "high",
    "principal_id": CONNECTOR,
    "connector_id": CONNECTOR,
    "recommended_action": "suspend",
    "evidence": {
        "window_start": "2030-01-03T00:00:00+00:00",
        "window_end": "2030-01-03T00:10:00+00:00",
        "access_count": 60,
        "distinct_patients": 5400,
        "distinct_appointments": 6000,
        "observed": 6000.0,
        "baseline": 40.5,
        "threshold": 405.0,
        "access_ids": [fake_id(14)],
        "network_addresses": ["192.0.2.10"],
        "summary": "D1_volume: 6000 appointments returned in 600 s (threshold 405)",
    },
}

INCIDENT_OPENED_V2: dict[str, Any] = {
    "window_start": "2030-01-03T00:00:00+00:00",
    "window_end": "2030-01-03T01:00:00+00:00",
    "incident_id": INCIDENT,
    "opened_by": PRINCIPAL,
    "title": "Unusual read volume from a connector",
    "connector_id": CONNECTOR,
    "principal_id": None,
    "detection_ids": [DETECTION],
    "aware_at": "2030-01-03T01:10:00+00:00",
}

# The V1 detection, kept for the upcast test (V2 is in EXAMPLES).
SUSPICIOUS_ACCESS_DETECTED_V1: dict[str, Any] = {
    "window_start": "2030-01-03T00:00:00+00:00",
    "window_end": "2030-01-03T01:00:00+00:00",
    "detection_id": DETECTION,
    "rule": "volume_above_baseline",
    "severity": "high",
    "principal_id": CONNECTOR,
    "connector_id": CONNECTOR,
    "access_count": 6000,
    "baseline": 40.5,
    "access_ids": [fake_id(14)],
    "recommended_action": "suspend_connector",
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "PractitionerRegistered": {
        "practitioner_id": PRACTITIONER,
        "rpps": "10000000000",
        "given_name": "Test",
        "family_name": "Practitioner",
        "specialty": "general practice",
        "email": "test.practitioner@example.org",
        "phone": "+33 6 00 00 00 01",
    },
    "PatientRegistered": {
        "patient_id": PATIENT,
        "given_name": "Test",
        "family_name": "Patient",
        "birth_date": "1990-01-01",
        "gender": "unknown",
        "email": "test.patient@example.org",
        "phone": None,
        "preferred_language": "en",
    },
    "ConnectorRegistered": {
        "connector_id": CONNECTOR,
        "client_id": "test-connector",
        "name": "Test Practice Software",
        "vendor": "Example Vendor",
        "contact_email": "support@example.org",
        "registered_by": PRINCIPAL,
    },
    "ConnectorAuthorized": {
        "grant_id": fake_id(10),
        "connector_id": CONNECTOR,
        "practitioner_id": PRACTITIONER,
        "operations": ["read"],
        "field_classes": ["administrative"],
        "granted_by": PRACTITIONER,
        "expires_at": None,
    },
    "TokenIssued": {
        "token_id": fake_id(11),
        "principal_id": CONNECTOR,
        "connector_id": CONNECTOR,
        "grant_type": "client_credentials",
        "scopes": ["agenda:read"],
        "field_classes": ["administrative"],
        "expires_at": "2030-01-01T10:15:00+00:00",
        "network_address": "192.0.2.10",
        "principal_kind": "connector",
    },
    "StaffRegistered": {
        "staff_id": PRINCIPAL,
        "role": "investigator",
        "display_name": "Test Investigator",
        "email": "test.investigator@example.org",
        "registered_by": fake_id(14),
    },
    "ConnectorAuthorizationRevoked": {
        "grant_id": fake_id(10),
        "connector_id": CONNECTOR,
        "practitioner_id": PRACTITIONER,
        "revoked_by": PRACTITIONER,
    },
    "ConnectorSecretRotated": {
        "connector_id": CONNECTOR,
        "rotated_by": PRINCIPAL,
        "revoked_token_ids": [fake_id(11)],
    },
    "ConnectorReinstated": {
        "connector_id": CONNECTOR,
        "reinstated_by": PRINCIPAL,
    },
    "AuthenticationFailed": {
        "attempt_id": fake_id(12),
        "client_id": "test-connector",
        "connector_id": CONNECTOR,
        "reason": "invalid_secret",
        "network_address": "2001:db8::10",
        "request_id": "req-0001",
    },
    "ConnectorSuspended": {
        "connector_id": CONNECTOR,
        "reason": "suspicious_access",
        "suspended_by": None,
        "detection_id": DETECTION,
        "revoked_token_ids": [fake_id(11)],
    },
    "AccountSuspended": {
        "principal_id": PATIENT,
        "principal_kind": "patient",
        "reason": "suspicious_access",
        "suspended_by": None,
        "detection_id": DETECTION,
        "revoked_token_ids": [fake_id(21)],
    },
    "AccountReinstated": {
        "principal_id": PATIENT,
        "principal_kind": "patient",
        "reinstated_by": PRINCIPAL,
    },
    "CredentialsReset": {
        "principal_id": PATIENT,
        "principal_kind": "patient",
        "reset_by": PRINCIPAL,
        "detection_id": None,
        "revoked_token_ids": [],
    },
    "CredentialsSet": {
        "principal_id": PATIENT,
        "principal_kind": "patient",
        "set_by": PRINCIPAL,
    },
    "QuotaSet": {
        "principal_id": CONNECTOR,
        "principal_kind": "connector",
        "per_hour": 2000,
        "burst": 200,
        "until": "2030-01-03T02:00:00+00:00",
        "reason": "throttle",
        "detection_id": DETECTION,
        "set_by": None,
    },
    "PrincipalTrusted": {
        "principal_id": CONNECTOR,
        "principal_kind": "connector",
        "until": "2030-01-04T00:00:00+00:00",
        "reason": "planned migration to the vendor's new data centre",
        "trusted_by": PRINCIPAL,
    },
    "SlotsOpened": {
        "schedule_id": fake_id(13),
        "practitioner_id": PRACTITIONER,
        "service_type": "consultation",
        "slots": [
            {
                "slot_id": SLOT,
                "start": "2030-01-02T09:00:00+01:00",
                "end": "2030-01-02T09:20:00+01:00",
            },
            {
                "slot_id": OTHER_SLOT,
                "start": "2030-01-02T09:20:00+01:00",
                "end": "2030-01-02T09:40:00+01:00",
            },
        ],
    },
    "AppointmentBooked": {
        "appointment_id": APPOINTMENT,
        "slot_id": SLOT,
        "practitioner_id": PRACTITIONER,
        "patient_id": PATIENT,
        "start": "2030-01-02T09:00:00+01:00",
        "end": "2030-01-02T09:20:00+01:00",
        "service_type": "consultation",
        "reason": SEALED,
        "booked_by": PATIENT,
        "connector_id": None,
    },
    "AppointmentRescheduled": {
        "appointment_id": APPOINTMENT,
        "practitioner_id": PRACTITIONER,
        "patient_id": PATIENT,
        "previous_slot_id": SLOT,
        "previous_start": "2030-01-02T09:00:00+01:00",
        "slot_id": OTHER_SLOT,
        "start": "2030-01-02T09:20:00+01:00",
        "end": "2030-01-02T09:40:00+01:00",
        "rescheduled_by": CONNECTOR,
        "connector_id": CONNECTOR,
    },
    "AppointmentCancelled": {
        "appointment_id": APPOINTMENT,
        "practitioner_id": PRACTITIONER,
        "patient_id": PATIENT,
        "slot_id": OTHER_SLOT,
        "start": "2030-01-02T09:20:00+01:00",
        "reason_code": "patient_request",
        "note": None,
        "cancelled_by": PATIENT,
        "connector_id": None,
    },
    "AppointmentsAccessed": {
        **APPOINTMENTS_ACCESSED_V2,
        "token_fingerprint": "0123456789abcdef",
        "denial_code": None,
        "targets": [],
    },
    "SlotHeld": {
        "slot_id": SLOT,
        "appointment_id": APPOINTMENT,
        "practitioner_id": PRACTITIONER,
    },
    "SlotReleased": {
        "slot_id": SLOT,
        "appointment_id": APPOINTMENT,
        "practitioner_id": PRACTITIONER,
        "cause": "rescheduled",
    },
    "AppointmentStatusChanged": {
        "appointment_id": APPOINTMENT,
        "practitioner_id": PRACTITIONER,
        "patient_id": PATIENT,
        "status": "arrived",
        "previous_status": "booked",
        "changed_by": PRACTITIONER,
        "connector_id": None,
    },
    "PatientMedicalKeyDestroyed": {
        "patient_id": PATIENT,
        "key_id": "pk-0001",
        "destroyed_by": fake_id(1),
        "reason": "erasure request (GDPR Art. 17)",
    },
    "NotificationSent": {
        "notification_id": fake_id(15),
        "source_event_id": fake_id(16),
        "patient_id": PATIENT,
        "channel": "email",
        "template": "appointment_booked",
        "attempt": 1,
        "provider_message_id": "msg-0001@example.org",
    },
    "NotificationFailed": {
        "notification_id": fake_id(17),
        "source_event_id": fake_id(16),
        "patient_id": PATIENT,
        "channel": "sms",
        "template": "appointment_booked",
        "attempt": 2,
        "error_code": "provider_unavailable",
        "retryable": True,
    },
    "AuditAccessRefused": {
        "access_id": fake_id(22),
        "principal_kind": "connector",
        "principal_id": CONNECTOR,
        "network_address": "203.0.113.9",
        "user_agent": "curl/8.5",
        "request_id": "req-0001",
        "route": "access_records",
        "token_fingerprint": "0123456789abcdef",
        "denial_code": "forbidden",
    },
    "SuspiciousAccessDetected": {
        **SUSPICIOUS_ACCESS_DETECTED_V2,
        "rule": "D1_reread",
        "principal_kind": "connector",
        "network_address": "192.0.2.10",
        "linked_principal_ids": [fake_id(20)],
        "recommended_action": "throttle",
    },
    "IncidentOpened": {
        **{
            k: v for k, v in INCIDENT_OPENED_V2.items() if k not in ("connector_id", "principal_id")
        },
        "subjects": [
            {"kind": "connector", "value": CONNECTOR},
            {"kind": "address", "value": "192.0.2.10"},
        ],
    },
    "RegulatorNoticePrepared": {
        "incident_id": INCIDENT,
        "prepared_by": PRINCIPAL,
        "prepared_at": "2030-01-04T09:00:00+00:00",
        "deadline": "2030-01-06T01:10:00+00:00",
        "within_deadline": True,
    },
    "BreachNotificationRequested": {
        "request_id": fake_id(18),
        "incident_id": INCIDENT,
        "patient_id": PATIENT,
        "appointment_ids": [APPOINTMENT],
        "field_classes": ["administrative"],
        "first_access_at": "2030-01-03T00:05:00+00:00",
        "last_access_at": "2030-01-03T00:55:00+00:00",
        "channels": ["email"],
        "template": "breach_notice_art34",
        "locale": "fr-FR",
    },
    "LedgerCheckpointed": {
        "checkpoint_id": fake_id(19),
        "ledger_position": 1200,
        "entry_count": 200,
        "head_hash": "0" * 63 + "1",
        "previous_checkpoint_id": fake_id(20),
        "previous_head_hash": "0" * 64,
        "algorithm": "ed25519",
        "key_id": "ledger-signing-key-1",
        "signature": "c3ludGhldGljIHNpZ25hdHVyZQ==",
    },
}
