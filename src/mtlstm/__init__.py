"""mtlstm: one multi-task Keras LSTM, trained by a reproducible DVC pipeline."""

__version__ = "0.1.0"
