"""sidkit-report: ``sidkit report RUN`` writes one self-contained HTML page per run."""

from .page import build_report

__all__ = ["build_report"]
