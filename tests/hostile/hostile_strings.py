# Every text the child sends back is hostile: lone surrogates, NULs, terminal escapes, RTL overrides,
# HTML, spreadsheet formulas, Markdown links, and a megabyte of it. The grader must keep grading and
# every writer (results.json, feedback.md/html, the staff page, report.html/json, grades.csv) must
# write it as harmless text. Harmless if it escapes: it only raises and names things.
import torch as _torch

_HOSTILE = ("\udcff\ud800 \x00\x1b[31m \u202egnp.exe <script>alert('x')</script> =HYPERLINK(\"http://x\",\"y\") "
            "+cmd|' /C calc'!A0 [click](javascript:alert(1)) **bold** ``` \r\n# heading ")


class _Named(_torch.nn.Module):
    pass


_Named.__name__ = _Named.__qualname__ = "<b>" + _HOSTILE.replace("\udcff\ud800", "")  # a name must encode


def _hostile_forward(self, x, return_weights=False):
    self.add_module("m\u202e<i>" + "\x00", _Named())  # a submodule with a hostile name and class name
    raise ValueError(_HOSTILE + "x" * 1_000_000)


SelfAttention.forward = _hostile_forward
