"""The data behind the feedback's pictures: grading data, made in the grading worker.

- ``figure_data``: after a component's checks, asks the child (through the checks' door, on fixed
  inputs) for pictures' data of the student's own code next to the reference's;
- ``evidence``: a failed value check's smallest case, cut down for a picture;
- ``caps``: how much of that the parent will keep and draw for one student;
- ``arrays``: tensors as small plain data for report.json.

``pages/`` draws from this data and never runs anything; grading never imports ``pages/``.
"""
