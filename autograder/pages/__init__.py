"""Feedback people look at (issue 14): pictures for each student and a class report for the TA, as
static web pages.

Renders only: the data comes from the grading worker (``grading_data/``: figure data, evidence)
and from ``similarity.py`` (fingerprints of normalised source), through report.json.

- ``figures``: draws PNGs from that data (matplotlib); ``feedback``: the student's page, the
  staff page and Gradescope's HTML results, as text (the output folder, ``report.OutputFolder``,
  decides where each goes); ``class_report``: ``report.html`` and ``report.json`` from what is on disk.

Data flows one way: the grader stores plain data in report.json; everything drawn is drawn from it.
"""

__all__ = ["render_student_pages", "write_class_report", "STUDENT_PAGE", "STAFF_PAGE", "CLASS_REPORT_HTML", "CLASS_REPORT_JSON"]

STUDENT_PAGE = "feedback.html"  # what the student may see now (published=False)
STAFF_PAGE = "feedback.staff.html"  # everything, for course staff


def __getattr__(name: str):  # matplotlib and jinja load on first use, not when a batch imports this package
    import importlib

    home = {"render_student_pages": "feedback", "write_class_report": "class_report", "CLASS_REPORT_HTML": "class_report", "CLASS_REPORT_JSON": "class_report"}
    if name in home:
        return getattr(importlib.import_module(f".{home[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
