"""Reports people read and hand on: overview (dashboard, API status), HTML with plots, regression suite, pairs."""

from analytics.reports.answers import AnswerScan, fetch_answers
from analytics.reports.data import ReportData, gather_report
from analytics.reports.exports import (
    PairExport,
    RegressionCase,
    RegressionSuite,
    TrainingPair,
    regression_suite,
    training_pairs,
)
from analytics.reports.html import render_html
from analytics.reports.overview import ChallengerRow, LagSummary, Overview, RecentHealth, build_overview
from analytics.reports.plots import all_plots

__all__ = ["AnswerScan", "ChallengerRow", "LagSummary", "Overview", "PairExport", "RecentHealth", "RegressionCase",
           "RegressionSuite", "ReportData", "TrainingPair", "all_plots", "build_overview", "fetch_answers",
           "gather_report", "regression_suite", "render_html", "training_pairs"]
