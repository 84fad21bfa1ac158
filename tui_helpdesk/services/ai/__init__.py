"""AI compose, summaries, translation and usage metering (SPEC §9), behind the Assistant port."""

from .service import AIService, SummaryResult

__all__ = ["AIService", "SummaryResult"]
