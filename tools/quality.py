"""The data_quality tool: what the data holds and what is wrong with it, before trusting it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from analytics.metrics import cx_coverage, metric_gaps
from data.quality import Finding, TableQuality, is_ingested, load_report, quality_report
from tools.base import Figure, ToolContext, ToolOutput, tool

MAX_NULL_FIGURES = 20


class DataQualityInput(BaseModel):
    """Arguments of data_quality (none: it reports on the whole warehouse)."""


class DataQualityOutput(ToolOutput):
    origin: str
    tables: dict[str, TableQuality]
    missing_tables: list[str]
    findings: list[Finding]
    unavailable_metrics: dict[str, list[str]]
    cx_coverage: str

    @property
    def warnings(self) -> list[str]:
        """Warnings to show beside any analysis of this data."""
        return [f.describe() for f in self.findings if f.level == "warning"]

    def figures(self) -> dict[str, Figure]:
        figures = {
            "warnings": Figure(value=len(self.warnings), unit="count"),
            "unavailable_metrics": Figure(value=len(self.unavailable_metrics), unit="count"),
        }
        for table in self.tables.values():
            figures[f"{table.name}.rows"] = Figure(value=table.rows, unit="count")
            if table.first and table.last:
                figures[f"{table.name}.first"] = Figure(
                    value=table.first.isoformat(timespec="minutes"), unit="datetime"
                )
                figures[f"{table.name}.last"] = Figure(
                    value=table.last.isoformat(timespec="minutes"), unit="datetime"
                )
        nulls = [(t.name, c) for t in self.tables.values() for c in t.columns if c.nulls]
        for table_name, column in nulls[:MAX_NULL_FIGURES]:
            figures[f"{table_name}.{column.name}.null_rate"] = Figure(
                value=round(column.null_rate, 4), unit="share"
            )
        for finding in self.findings:
            if finding.rows:
                figures[f"{finding.check}.rows"] = Figure(value=finding.rows, unit="count")
                figures[f"{finding.check}.share"] = Figure(
                    value=round(finding.share, 4), unit="share"
                )
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {"level": f.level, "table": f.table, "check": f.check, "rows": f.rows,
             "share": round(f.share, 4), "finding": f.message}
            for f in self.findings
        ]  # fmt: skip


@tool(shared=False)  # reads the ingestion's quality report, a file beside the warehouse
def data_quality(context: ToolContext, args: DataQualityInput) -> DataQualityOutput:
    """Data-quality report of the warehouse: rows, null rates and date range per table, the
    tables and columns the data lacks, suspicious facts (more busy than on-shift dashers,
    arrivals before the order, orphan keys, partial days) and the metrics the data cannot
    support (CX sub-scores whose data is constant or nearly empty are left out of the CX
    score). Read it before trusting an analysis of real data."""
    report = load_report(context.world_dir) or quality_report(context.con)
    gaps = metric_gaps(context.con)
    coverage = cx_coverage(context.con)
    warnings = [f for f in report.findings if f.level == "warning"]
    summary = (
        f"{len(report.tables)} tables, {len(warnings)} warning(s)"
        + (f" (first: {warnings[0].describe()})" if warnings else "")
        + (f"; unavailable metrics: {', '.join(gaps)}" if gaps else "")
        + (f"; {coverage.describe()}" if coverage.left_out else "")
    )
    return DataQualityOutput(
        summary=summary,
        origin="ingested" if is_ingested(context.world_dir) else "synthetic",
        tables=report.tables,
        missing_tables=report.missing_tables,
        findings=report.findings,
        unavailable_metrics=gaps,
        cx_coverage=coverage.describe(),
    )
