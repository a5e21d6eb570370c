"""Ed25519 tree heads: the key from configuration or no start; any change breaks the signature."""

import base64
import io
import json
from datetime import UTC, datetime

import pytest

from services.audit.settings import AuditSettings
from services.audit.signing import (
    SigningKeyError,
    TreeHead,
    new_seed,
    public_key_b64,
    signer_from_config,
    verification_keys,
    verify_tree_head,
)
from services.common.logging import configure_logging

NOW = datetime(2025, 3, 1, 12, 0, 0, 1, tzinfo=UTC)


def head(**changes):
    base = {"tree_size": 5, "root_hash": bytes(range(32)), "timestamp": NOW, "key_id": "k1"}
    return TreeHead(**{**base, **changes})


def test_sign_and_verify_with_the_configured_key():
    signer = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "k1"})
    signature = signer.sign(head())
    assert verify_tree_head(signer.public_key(), head(), signature)
    for changed in (head(tree_size=6), head(root_hash=bytes(32)), head(key_id="k2")):
        assert not verify_tree_head(signer.public_key(), changed, signature)
    later = head(timestamp=NOW.replace(microsecond=2))
    assert not verify_tree_head(signer.public_key(), later, signature)


def test_the_same_seed_gives_the_same_key():
    seed = new_seed()
    one = signer_from_config({"AUDIT_SIGNING_KEY": seed, "AUDIT_SIGNING_KEY_ID": "k1"})
    two = signer_from_config({"AUDIT_SIGNING_KEY": seed, "AUDIT_SIGNING_KEY_ID": "k1"})
    assert verify_tree_head(two.public_key(), head(), one.sign(head()))


def test_no_key_refuses_to_start_with_a_clear_error():
    with pytest.raises(SigningKeyError, match="AUDIT_SIGNING_KEY is not set"):
        signer_from_config({"AUDIT_SIGNING_KEY": "", "AUDIT_DEV_EPHEMERAL_KEY": False})
    with pytest.raises(SigningKeyError, match="32 bytes"):
        short = base64.b64encode(b"short").decode()
        signer_from_config({"AUDIT_SIGNING_KEY": short, "AUDIT_SIGNING_KEY_ID": "k"})
    with pytest.raises(SigningKeyError, match="base64"):
        signer_from_config({"AUDIT_SIGNING_KEY": "not base64!", "AUDIT_SIGNING_KEY_ID": "k"})
    with pytest.raises(SigningKeyError, match="KEY_ID"):
        signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": ""})


def test_ephemeral_key_only_when_asked_and_loudly():
    stream = io.StringIO()
    configure_logging("audit", stream=stream)
    signer = signer_from_config({"AUDIT_DEV_EPHEMERAL_KEY": "true"})
    assert signer.ephemeral and signer.key_id.startswith("ephemeral-")
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if "ephemeral" in x]
    assert line["level"] == "warning" and line["event"] == "audit.signing_key.ephemeral"


def test_verification_key_from_public_key_or_derived():
    signer = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "k1"})
    public_only = {
        "AUDIT_VERIFY_PUBLIC_KEY": public_key_b64(signer.public_key()),
        "AUDIT_SIGNING_KEY_ID": "k1",
    }
    keys = verification_keys(public_only)
    assert verify_tree_head(keys["k1"], head(), signer.sign(head()))
    assert set(verification_keys({}, signer)) == {"k1"}


def test_a_signer_refuses_a_head_naming_another_key():
    signer = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "k1"})
    with pytest.raises(ValueError):
        signer.sign(head(key_id="other"))


def test_settings_defaults_and_strings():
    s = AuditSettings.from_config({"DATABASE_URL": "postgresql://x/y"})
    assert (s.checkpoint_seconds, s.verify_grace_seconds) == (10.0, 30.0)
    assert s.verify_database_url == "postgresql://x/y"
    s = AuditSettings.from_config({"LEDGER_CHECKPOINT_SECONDS": "2.5"})
    assert s.checkpoint_seconds == 2.5
    assert AuditSettings.from_config({"AUDIT_VERIFY_GRACE_SECONDS": 0}).verify_grace_seconds == 0
