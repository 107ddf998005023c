"""Feedback people look at (issue 14): pictures for each student and a class report for the TA, as
static web pages.

Renders only: the data comes from the grading worker (``grading_data/``: figure data, evidence)
and from ``similarity.py`` (fingerprints of normalised source), through report.json.

- ``figures``: draws PNGs from that data (matplotlib); ``feedback``: ``feedback.html``,
  ``feedback.staff.html`` and Gradescope's HTML results; ``class_report``: ``report.html`` and
  ``report.json`` from what is on disk.

Data flows one way: the grader stores plain data in report.json; everything drawn is drawn from it.
"""

__all__ = ["write_student_pages", "write_class_report", "STUDENT_PAGE", "STAFF_PAGE", "REPORT_HTML", "REPORT_JSON"]


def __getattr__(name: str):  # matplotlib and jinja load on first use, not when a batch imports this package
    import importlib

    home = {"write_student_pages": "feedback", "STUDENT_PAGE": "feedback", "STAFF_PAGE": "feedback",
            "write_class_report": "class_report", "REPORT_HTML": "class_report", "REPORT_JSON": "class_report"}
    if name in home:
        return getattr(importlib.import_module(f".{home[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
