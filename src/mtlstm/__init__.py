"""mtlstm: one multi-task Keras LSTM, trained by a reproducible DVC pipeline."""

import os

# TensorFlow prints C++ start-up chatter unless told before it is first imported;
# every TensorFlow import in mtlstm happens after this package is initialized.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
