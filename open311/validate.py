"""`cirm validate-mapping`: how well a mapping fits an export, without touching the warehouse.

The export is staged exactly as an import would stage it (same SQL, on a throwaway in-memory
DuckDB), and the report lists what a person fixing the mapping needs: source columns no field
reads, values no datetime format parses (with examples), value-map misses per field (with counts
and examples), and the rows an import would quarantine, by reason.

Problems (exit 1) are unparsed datetimes and misses of fields whose `on_miss` is quarantine: the
mapping loses rows. Misses absorbed by null/default/keep are reported, but are choices, not faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.warehouse import quote_ident, utc_now
from open311.importer import export_header, parse_export, read_export_bytes
from open311.mapping import DATETIME_FIELDS, TEXT_FIELDS, VOCABULARIES, Mapping
from open311.stage import STAGE_TABLE, stage_export

EXAMPLES = 5


@dataclass
class FieldIssue:
    field: str
    count: int  # rows
    examples: list[tuple[str | None, int]]  # (source value, rows), most frequent first
    on_miss: str | None = None  # value-map misses only


@dataclass
class ValidationReport:
    mapping: Path
    file: Path
    rows: int
    columns: list[str]
    unmapped_columns: list[str] = field(default_factory=list)
    unparsed: list[FieldIssue] = field(default_factory=list)
    misses: list[FieldIssue] = field(default_factory=list)
    would_quarantine: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def problems(self) -> list[str]:
        out = [f"{i.field}: {i.count:,} value(s) match no datetime format" for i in self.unparsed]
        out += [
            f"{i.field}: {i.count:,} row(s) with values the value map does not know (on_miss: quarantine)"
            for i in self.misses
            if i.on_miss == "quarantine"
        ]
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [
            f"mapping {self.mapping} on {self.file}: {self.rows:,} rows, {len(self.columns)} columns",
            f"  unmapped source columns ({len(self.unmapped_columns)}): "
            + (", ".join(self.unmapped_columns) if self.unmapped_columns else "none"),
        ]
        if self.unparsed:
            lines.append("  unparsed datetimes (no format matched):")
            for issue in self.unparsed:
                lines.append(f"      {issue.field:<18} {issue.count:>8,} rows, e.g. {_examples(issue)}")
        else:
            lines.append("  unparsed datetimes: none")
        if self.misses:
            lines.append("  value-map misses:")
            for issue in self.misses:
                lines.append(
                    f"      {issue.field:<18} {issue.count:>8,} rows (on_miss: {issue.on_miss}), "
                    f"e.g. {_examples(issue)}"
                )
        else:
            lines.append("  value-map misses: none")
        if self.would_quarantine:
            total = sum(self.would_quarantine.values())
            lines.append(f"  an import would quarantine {total:,} row(s):")
            lines += [f"      {r:<30} {n:>8,}" for r, n in sorted(self.would_quarantine.items(), key=lambda i: -i[1])]
        if self.duplicates:
            lines.append(f"  an import would drop {self.duplicates:,} duplicate row(s)")
        if self.ok:
            lines.append("  verdict: ok")
        else:
            lines.append(f"  verdict: {len(self.problems)} problem(s)")
            lines += [f"      {p}" for p in self.problems]
        return "\n".join(lines)


def _examples(issue: FieldIssue) -> str:
    return ", ".join(f"{v!r} ({n:,})" for v, n in issue.examples)


def validate_mapping(mapping: Mapping, file: Path | str) -> ValidationReport:
    """Stage `file` with `mapping` in memory and report how the two fit (raises on missing columns)."""
    export = read_export_bytes(file)
    columns = export_header(export, mapping)
    table = parse_export(export, mapping)  # refuses missing columns, naming field and column
    used = set(mapping.source_columns())
    report = ValidationReport(
        mapping=mapping.path,
        file=export.path,
        rows=table.num_rows,
        columns=columns,
        unmapped_columns=[c for c in columns if c not in used],
    )
    con = duckdb.connect()
    try:
        stage_export(con, mapping, table, utc_now())
        distinct = f"FROM {STAGE_TABLE} WHERE NOT _exact_dup"
        for name in DATETIME_FIELDS:
            if name not in mapping.fields:
                continue
            parsed = quote_ident("_parsed_updated_at" if name == "updated_at" else name)
            issue = _issue(con, name, f"{distinct} AND _src_{name} IS NOT NULL AND {parsed} IS NULL", f"_src_{name}")
            if issue:
                report.unparsed.append(issue)
        for name in (*VOCABULARIES, *TEXT_FIELDS):
            spec = mapping.fields.get(name)
            if spec is None or (spec.values is None and spec.vocabulary is None):
                continue
            issue = _issue(con, name, f"{distinct} AND _miss_{name}", f"_src_{name}")
            if issue:
                issue.on_miss = spec.on_miss
                report.misses.append(issue)
        report.would_quarantine = dict(
            con.execute(f"SELECT _reason, count(*) {distinct} AND _reason IS NOT NULL GROUP BY ALL").fetchall()
        )
        (report.duplicates,) = con.execute(
            f"SELECT count(*) FROM {STAGE_TABLE} WHERE _exact_dup OR (_superseded AND _reason IS NULL)"
        ).fetchall()[0]
    finally:
        con.close()
    return report


def _issue(con: duckdb.DuckDBPyConnection, name: str, where: str, column: str) -> FieldIssue | None:
    rows = con.execute(
        f"SELECT {quote_ident(column)} AS v, count(*) AS n {where} GROUP BY ALL ORDER BY n DESC, v"
    ).fetchall()
    if not rows:
        return None
    return FieldIssue(field=name, count=sum(n for _, n in rows), examples=[(v, int(n)) for v, n in rows[:EXAMPLES]])
