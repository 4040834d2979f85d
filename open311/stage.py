"""One export, staged in DuckDB: every canonical value, every rule's verdict, computed over the whole file.

`stage_export` leaves the temporary table `o311_stage`, one row per source row: the canonical
columns, typed, plus the bookkeeping the importer and the validator read (`_src_<field>` the text a
field was derived from, `_miss_<field>` a value-map miss, `_reason`/`_qfield`/`_qvalue` the first
quarantine rule a row breaks, `_exact_dup` and `_superseded` for duplicates). Nothing here loops
over rows in Python; the only Python-side work is repairing the few distinct mojibake values.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from ingest.warehouse import quote_ident
from open311.mapping import DATETIME_FIELDS, TEXT_FIELDS, VOCABULARIES, FieldSpec, Mapping
from open311.text import SUSPECT_PATTERN, repair_mojibake

SOURCE_VIEW = "o311_src"
STAGE_TABLE = "o311_stage"
# Value-mapped fields whose miss can send a row to quarantine, in the order their rule is checked.
_MAPPED_ORDER = ("status", "request_type", "channel", *TEXT_FIELDS)
# A request created more than this far in the future is a clock or parse error, not a request.
FUTURE_TOLERANCE = timedelta(days=1)


def lit(value: str | None) -> str:
    """A SQL string literal; values come from mapping files, never from the export."""
    if value is None:
        return "CAST(NULL AS VARCHAR)"
    return "'" + value.replace("'", "''") + "'"


def _norm_text(expr: str, mapping: Mapping) -> str:
    if mapping.text.collapse_whitespace:
        # RE2's \s misses the no-break space that spreadsheet exports like to leave behind.
        expr = f"regexp_replace({expr}, '[\\s\\x{{a0}}]+', ' ', 'g')"
    if mapping.text.trim:
        expr = f"trim({expr})"
    return f"nullif({expr}, '')"


def _fix_mojibake(con: duckdb.DuckDBPyConnection, columns: list[str]) -> pa.Table:
    """Repairs for the distinct suspicious values only: DuckDB finds them, Python fixes the handful."""
    empty = pa.table(
        {"c": pa.array([], pa.int32()), "bad": pa.array([], pa.string()), "good": pa.array([], pa.string())}
    )
    if not columns:
        return empty
    union = " UNION ALL ".join(
        f"SELECT DISTINCT {i} AS c, {quote_ident(col)} AS v FROM {SOURCE_VIEW} "
        f"WHERE regexp_matches({quote_ident(col)}, $pattern)"
        for i, col in enumerate(columns)
    )
    suspects = con.execute(union, {"pattern": SUSPECT_PATTERN}).fetchall()
    rows = [(c, v, fixed) for c, v in suspects if (fixed := repair_mojibake(v)) != v]
    if not rows:
        return empty
    c, bad, good = zip(*rows, strict=True)
    return pa.table({"c": pa.array(c, pa.int32()), "bad": pa.array(bad, pa.string()), "good": pa.array(good)})


def _source_expr(spec: FieldSpec) -> str:
    if spec.kind == "column":
        return quote_ident(str(spec.source))
    if spec.kind == "constant":
        return lit(str(spec.source))
    if spec.kind == "hash":
        # Unit separator between parts and a NUL for NULL, so ('a', NULL) and ('a', '') differ.
        parts = ", ".join(f"coalesce({quote_ident(c)}, chr(0))" for c in spec.source)
        return f"md5(concat_ws(chr(31), {parts}))"
    return f"CAST(({spec.source}) AS VARCHAR)"


def _lookup_cte(spec: FieldSpec) -> str:
    """Distinct source values of one field joined to its value map: the map is applied per value."""
    entries: dict[str, str | None] = {}
    if spec.vocabulary is not None:
        entries.update({v: v for v in spec.vocabulary})  # canonical values map to themselves
    entries.update(spec.values or {})
    rows = ", ".join(f"({lit(k)}, {lit(t)})" for k, t in entries.items())
    cond = "starts_with(d.v, m.key)" if spec.match == "prefix" else "d.v = m.key"
    col = quote_ident(f"_src_{spec.name}")
    return (
        f"lk_{spec.name} AS (SELECT d.v, m.target FROM (SELECT DISTINCT lower({col}) AS v FROM v "
        f"WHERE {col} IS NOT NULL) d JOIN (VALUES {rows}) m(key, target) ON {cond} "
        "QUALIFY row_number() OVER (PARTITION BY d.v ORDER BY length(m.key) DESC) = 1)"
    )


def _case(expr: str, case: str) -> str:
    if case == "upper":
        return f"upper({expr})"
    if case == "lower":
        return f"lower({expr})"
    if case == "title":
        return (
            f"array_to_string(list_transform(string_split(lower({expr}), ' '), "
            f"lambda w: upper(left(w, 1)) || substr(w, 2)), ' ')"
        )
    return expr


def _mapped(spec: FieldSpec) -> bool:
    return spec.values is not None or spec.vocabulary is not None


def _mapped_value(spec: FieldSpec) -> tuple[str, str]:
    """The final value of a value-mapped field, and its miss flag."""
    src = f"v.{quote_ident('_src_' + spec.name)}"
    lk = f"lk_{spec.name}"
    # A missing status or request type is as bad as an unknown one; a missing channel is just unknown.
    null_is_miss = spec.name in ("status", "request_type")
    miss = f"({lk}.v IS NULL AND {'true' if null_is_miss else f'{src} IS NOT NULL'})"
    on_miss = {"quarantine": "NULL", "null": "NULL", "default": lit(spec.default), "keep": src}[spec.on_miss]
    value = f"CASE WHEN {lk}.v IS NOT NULL THEN {lk}.target WHEN {miss} THEN {on_miss} ELSE NULL END"
    return value, miss


def stage_export(con: duckdb.DuckDBPyConnection, mapping: Mapping, table: pa.Table, now: datetime) -> None:
    """Stage one export (all-text Arrow table with `_row_number`) into the temp table `o311_stage`."""
    con.register(SOURCE_VIEW, table)
    used = mapping.source_columns()
    fixes = _fix_mojibake(con, used if mapping.text.fix_mojibake else [])
    con.register("o311_fixes", fixes)
    fixed_cols = set(fixes.column("c").to_pylist())

    # 1. Normalized text of every source column a field reads (plus the raw-row hash for exact duplicates).
    all_cols = [c for c in table.column_names if c != "_row_number"]
    row_hash = (
        "md5(to_json(struct_pack("
        + ", ".join(f"{quote_ident('c' + str(i))} := s.{quote_ident(c)}" for i, c in enumerate(all_cols))
        + ")))"
    )
    norm_cols, joins, moji_flags = [], [], []
    for i, col in enumerate(used):
        expr = f"s.{quote_ident(col)}"
        if i in fixed_cols:
            joins.append(f"LEFT JOIN o311_fixes f{i} ON f{i}.c = {i} AND f{i}.bad = s.{quote_ident(col)}")
            expr = f"coalesce(f{i}.good, {expr})"
            moji_flags.append(f"(f{i}.good IS NOT NULL)::INT")
        norm_cols.append(f"{_norm_text(expr, mapping)} AS {quote_ident(col)}")
    moji = " + ".join(moji_flags) or "0"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE o311_norm AS SELECT s._row_number, {row_hash} AS _row_hash, "
        f"{moji} AS _mojibake_n{''.join(', ' + c for c in norm_cols)} FROM {SOURCE_VIEW} s {' '.join(joins)}"
    )

    # 2. Each field's source text, then typed, mapped and checked values.
    specs = mapping.fields
    src_cols = [
        f"{_norm_text(_source_expr(spec), mapping)} AS {quote_ident('_src_' + name)}" for name, spec in specs.items()
    ]
    lookups = [_lookup_cte(spec) for spec in specs.values() if _mapped(spec)]
    out: dict[str, str] = {}
    misses: dict[str, str] = {}
    for name, spec in specs.items():
        src = f"v.{quote_ident('_src_' + name)}"
        if _mapped(spec):
            out[name], misses[name] = _mapped_value(spec)
        elif name in DATETIME_FIELDS:
            formats = "[" + ", ".join(lit(f) for f in mapping.formats_for(name)) + "]"
            out[name] = f"timezone('UTC', timezone({lit(mapping.timezone)}, try_strptime({src}, {formats})))"
        elif name in ("latitude", "longitude"):
            out[name] = f"TRY_CAST({src} AS DOUBLE)"
        elif name == "zip_code":
            keep = f"regexp_full_match({src}, '\\d{{5}}(-?\\d{{4}})?')"
            if spec.placeholders:
                keep += f" AND left({src}, 5) NOT IN ({', '.join(lit(p) for p in spec.placeholders)})"
            out[name] = f"CASE WHEN {keep} THEN left({src}, 5) END"
        else:
            out[name] = src
        if name in TEXT_FIELDS:
            out[name] = _case(out[name], spec.case)
    for vocab_field in VOCABULARIES:
        if vocab_field not in out:
            out[vocab_field] = "CAST(NULL AS VARCHAR)"
    typed = [f"{expr} AS {quote_ident(name)}" for name, expr in out.items()]
    typed += [f"{flag} AS {quote_ident('_miss_' + name)}" for name, flag in misses.items()]
    joins2 = " ".join(
        f"LEFT JOIN lk_{name} ON lk_{name}.v = lower(v.{quote_ident('_src_' + name)})"
        for name, spec in specs.items()
        if _mapped(spec)
    )
    ctes = [f"v AS (SELECT _row_number, _row_hash, _mojibake_n, {', '.join(src_cols)} FROM o311_norm)", *lookups]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE o311_typed AS WITH {', '.join(ctes)} "
        f"SELECT v.*, {', '.join(typed)} FROM v {joins2}"
    )

    # 3. Canonical shape, coordinates and updated_at settled, quarantine rule per row.
    def col(name: str, cast: str = "VARCHAR") -> str:
        return quote_ident(name) if name in specs or name in VOCABULARIES else f"CAST(NULL AS {cast})"

    lat, lon = col("latitude", "DOUBLE"), col("longitude", "DOUBLE")
    coords_ok = f"({lat} BETWEEN -90 AND 90 AND {lon} BETWEEN -180 AND 180 AND NOT ({lat} = 0 AND {lon} = 0))"
    created, closed = col("created_at", "TIMESTAMP"), col("closed_at", "TIMESTAMP")
    updated_src = col("updated_at", "TIMESTAMP")
    rules: list[tuple[str, str, str, str]] = [
        ("request_id IS NULL", "missing_request_id", "request_id", "NULL"),
        ("_src_created_at IS NULL", "missing_created_at", "created_at", "NULL"),
        ("created_at IS NULL", "unparsed_created_at", "created_at", "_src_created_at"),
    ]
    if "closed_at" in specs:
        rules.append(
            ("_src_closed_at IS NOT NULL AND closed_at IS NULL", "unparsed_closed_at", "closed_at", "_src_closed_at")
        )
    rules.append(("created_at > $future", "future_created_at", "created_at", "_src_created_at"))
    if "closed_at" in specs:
        rules.append(("closed_at < created_at", "closed_before_created", "closed_at", "_src_closed_at"))
    for name in _MAPPED_ORDER:
        if name in misses and specs[name].on_miss == "quarantine":
            rules.append((f"_miss_{name}", f"unmapped_{name}", name, f"_src_{name}"))
    reason = "CASE " + " ".join(f"WHEN {c} THEN {lit(r)}" for c, r, _, _ in rules) + " END"
    qfield = "CASE " + " ".join(f"WHEN {c} THEN {lit(f)}" for c, _, f, _ in rules) + " END"
    qvalue = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, _, _, v in rules) + " END"
    canonical_text = {
        name: col(name) for name in ("request_id", "status", "channel", "request_type", *TEXT_FIELDS, "zip_code")
    }
    src_extra = [f"{quote_ident(c)}" for c in (f"_src_{n}" for n in specs) if c != "_src_request_id"]
    miss_cols = [quote_ident("_miss_" + n) for n in misses]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS
        SELECT
            _row_number,
            {", ".join(f"{expr} AS {quote_ident(n)}" for n, expr in canonical_text.items())},
            CASE WHEN {coords_ok} THEN {lat} END AS latitude,
            CASE WHEN {coords_ok} THEN {lon} END AS longitude,
            {created} AS created_at,
            {closed} AS closed_at,
            -- An update cannot precede the request or its closing; exports without one fall back.
            greatest(coalesce({updated_src}, {closed}, {created}), {created}, {closed}) AS updated_at,
            {updated_src} AS _parsed_updated_at,
            _row_hash, _mojibake_n,
            {", ".join(src_extra + miss_cols)},
            row_number() OVER (PARTITION BY _row_hash ORDER BY _row_number) > 1 AS _exact_dup,
            {reason} AS _reason,
            {qfield} AS _qfield,
            CAST({qvalue} AS VARCHAR) AS _qvalue,
            false AS _superseded
        FROM o311_typed
        """,
        {"future": now + FUTURE_TOLERANCE} if "$future" in reason else None,
    )
    _settle_conflicts(con, mapping)
    con.execute("DROP TABLE IF EXISTS o311_norm")
    con.execute("DROP TABLE IF EXISTS o311_typed")


def _settle_conflicts(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """Same request_id twice in one export with different content: keep the latest, or quarantine all."""
    candidates = f"""
        SELECT _row_number, count(*) OVER (PARTITION BY request_id) AS n,
               row_number() OVER (PARTITION BY request_id ORDER BY updated_at DESC, _row_number DESC) AS rank
        FROM {STAGE_TABLE} WHERE NOT _exact_dup AND _reason IS NULL
    """
    if mapping.on_conflict == "quarantine":
        con.execute(
            f"UPDATE {STAGE_TABLE} SET _reason = 'conflicting_duplicate', _qfield = 'request_id', "
            f"_qvalue = request_id WHERE _row_number IN (SELECT _row_number FROM ({candidates}) WHERE n > 1)"
        )
    else:
        con.execute(
            f"UPDATE {STAGE_TABLE} SET _superseded = true "
            f"WHERE _row_number IN (SELECT _row_number FROM ({candidates}) WHERE rank > 1)"
        )


def drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
    for view in (SOURCE_VIEW, "o311_fixes"):
        with contextlib.suppress(duckdb.Error):
            con.unregister(view)
