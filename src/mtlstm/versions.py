"""What produced the metrics: the versions of Python and of the libraries whose
change can move a number, written by the evaluate stage to metrics/versions.json.

It is a metrics file, so `dvc metrics diff`, `dvc exp show` and the CI report
(scripts/report.py) list a changed version beside the numbers it changed.
requirements.lock pins them all; this records what actually ran.
"""

from __future__ import annotations

import importlib
import platform
import sysconfig

# Import name -> the key in the record (its distribution name).
LIBRARIES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "numpy": "numpy",
    "pandas": "pandas",
    "sklearn": "scikit-learn",  # the gradient-boosting baseline
    "dvc": "dvc",
}


def versions() -> dict[str, str]:
    """{"python", "platform", then one key per library: its version}, read
    from the imported modules themselves (whatever distribution provided them)."""
    record = {
        "python": platform.python_version(),
        "platform": sysconfig.get_platform(),
    }
    for module, key in LIBRARIES.items():
        record[key] = importlib.import_module(module).__version__
    return record
