"""mtlstm: one multi-task Keras LSTM, trained by a reproducible DVC pipeline.

Importing the package keeps TensorFlow's start-up chatter out of every stage's
and command's output: its C++ log level is set before TensorFlow is first
imported, and the lines that its native libraries write to stderr while they
load, before that setting or absl's logging is in force ("All log messages
before absl::InitializeLog() ...", "Could not find cuda drivers ...", "oneDNN
custom operations are on ..."), are dropped. Anything else written during the
import (an error) still reaches stderr. ``TF_CPP_MIN_LOG_LEVEL=0`` in the
environment shows everything. Stages before train never import TensorFlow, so
for them this costs nothing.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# An absl/glog info or warning line ("I0000 00:00:1796.3   28498 port.cc:153] ..."),
# or absl's note that such lines go to stderr until it is initialized.
STARTUP_NOISE = re.compile(
    r"(?:[IW]\d{4} \d\d:\d\d:\d+(?:\.\d+)?\s+\d+ [\w.-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def drop_startup_noise(text: str) -> str:
    """``text`` without TensorFlow's start-up log lines."""
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not STARTUP_NOISE.match(line))


@contextlib.contextmanager
def _filtered_stderr():
    """Capture file descriptor 2 (native code writes there directly), then
    replay what was written, less the start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = drop_startup_noise(captured.read().decode(errors="replace"))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first ``import tensorflow`` (from any module, Keras included)
    inside :func:`_filtered_stderr`; then removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            with _filtered_stderr():
                original(module)

        loader.exec_module = exec_module
        return spec


if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0" and "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, _QuietTensorFlowImport())
