"""Temporary: the old name of epoch_data.py, kept only for predict.py (owned by another change),
which still runs ``batches.predict``. Delete this file once predict.py imports epoch_data."""
from .epoch_data import predict  # noqa: F401
