"""Rebuilding a read model beside the live one, then swapping it in atomically (ADR 0011)."""

from services.common.projections.rebuild import Outcome, Rebuild, RefusedSwap
from services.common.projections.spec import Batch, Projection, Source

__all__ = ["Batch", "Outcome", "Projection", "Rebuild", "RefusedSwap", "Source"]
