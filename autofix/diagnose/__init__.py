"""`autofix diagnose`: from a PyTorch error, warning or symptom to its root cause, the dead ends
to avoid, and the finding — with its fix — in the files the traceback names."""

from autofix.diagnose.report import Diagnosis, NearbyFinding, Report, diagnose

__all__ = ["Diagnosis", "NearbyFinding", "Report", "diagnose"]
