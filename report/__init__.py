"""A static, self-contained HTML report of a pipeline run: status, quality, service performance, mining."""

from report.build import ReportError, build_report

__all__ = ["ReportError", "build_report"]
