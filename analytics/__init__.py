"""Everything that reads and judges: drift windows, alerts, outcomes, promotion verdicts, costs, readiness."""

from analytics.promotion import ChallengerEvidence, Verdict, cheapest_passing, decide
from analytics.scope import Scope
from analytics.windows import DriftQuery, DriftRow, drift

__all__ = ["ChallengerEvidence", "DriftQuery", "DriftRow", "Scope", "Verdict", "cheapest_passing", "decide", "drift"]
