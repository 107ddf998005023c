"""Feedback people look at (issue 14): pictures for each student and a class report for the TA, as
static web pages.

- ``figure_data``: in the grading worker, after a component's checks, asks the child for data of
  pictures of the student's own code next to the reference's (the checks' door, fixed inputs);
- ``evidence``: a failed value check's smallest case, cut down for a picture;
- ``similarity``: fingerprints of normalised source, compared pairwise;
- ``figures``: draws PNGs from that data (matplotlib); ``feedback``: ``feedback.html``,
  ``feedback.staff.html`` and Gradescope's HTML results; ``class_report``: ``report.html`` and
  ``report.json`` from what is on disk.

Data flows one way: the grader stores plain data in report.json; everything drawn is drawn from it.
"""
