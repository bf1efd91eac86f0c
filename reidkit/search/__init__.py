"""Search an indexed library with one photo: query handling, moments, reports.

from reidkit.search import find_person, write_report
result = find_person("me.jpg", "lib/")
write_report(result, "report/")
"""

from reidkit.search.engine import (
    SearchResult,
    find_moments,
    find_moments_in,
    find_person,
    find_tracklet,
    open_library,
    search_vector,
    verdict_for,
)
from reidkit.search.moments import Moment, MomentRule
from reidkit.search.query import load_query, parse_box, select_person
from reidkit.search.report import format_time, write_report
from reidkit.search.verdict import Verdict, VerdictRule
from reidkit.zoo.calibration import ScoreCalibration, calibration_for

__all__ = [
    "Moment",
    "MomentRule",
    "ScoreCalibration",
    "SearchResult",
    "Verdict",
    "VerdictRule",
    "calibration_for",
    "find_moments",
    "find_moments_in",
    "find_person",
    "find_tracklet",
    "format_time",
    "load_query",
    "open_library",
    "parse_box",
    "search_vector",
    "select_person",
    "verdict_for",
    "write_report",
]
