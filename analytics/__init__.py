"""Everything that reads and judges: drift windows (more to come: promotion, lag, reports)."""

from analytics.drift import DriftWindow, drift_windows, scored_rows

__all__ = ["DriftWindow", "drift_windows", "scored_rows"]
