# Transitional: Report and Provenance live in binance_svc/report.py.
from ..report import Provenance, Report, utcnow  # noqa: F401
