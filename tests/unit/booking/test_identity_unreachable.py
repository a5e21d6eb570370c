"""A broker that is down while booking asks identity about a token: 503 to retry, not 500."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError

from services.booking import api
from services.booking.service import BookingService


class Unreachable:
    """A principal cache whose RPC to identity cannot be sent."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, token: str, authenticate=None):
        raise self.error


@pytest.mark.parametrize("error", [OperationalError("broker down"), ConnectionResetError(104)])
def test_a_broker_down_during_authentication_is_identity_unavailable(error):
    service = SimpleNamespace(principals=Unreachable(error), _ask_identity=None)
    with pytest.raises(api.IdentityUnavailable):
        BookingService._authenticate(service, "token", 1.0)
