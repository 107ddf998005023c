# Try to write a fake results.json, and files beside the submission, the reference and in /tmp.
import json

_fake = json.dumps({"score": 100, "tests": []})
for _path in ["@OUT@/results.json", "results.json", "@SUBMISSION@/@MARKER@", "@SOLUTIONS@/@MARKER@",
              "/tmp/@MARKER@"]:
    try:
        with open(_path, "w") as _handle:
            _handle.write(_fake)
    except OSError:
        pass
