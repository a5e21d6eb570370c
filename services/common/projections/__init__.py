"""What a read model is to a rebuild: its source, batches and tables (ADR 0011); the rebuild
itself is operator tooling (services/ops/rebuild.py)."""

from services.common.projections.spec import Batch, Projection, Source

__all__ = ["Batch", "Projection", "Source"]
