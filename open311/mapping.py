"""The mapping file: how one city's 311 export becomes `raw.open311_requests`.

A mapping is a YAML file (see `mappings/README.md` for the shipped ones). Schema::

    city: nyc                     # required; becomes source_system (lower-case letters, digits, _)
    timezone: America/New_York    # required; IANA zone of the export's local times (converted to UTC)
    datetime_formats:             # required; strptime formats tried in order, per value
      - "%m/%d/%Y %I:%M:%S %p"
    encoding: utf-8               # optional (default utf-8); the CSV file's text encoding
    description: "..."            # optional, free text
    text:                         # optional; every key defaults to true
      trim: true                  #   strip leading/trailing whitespace, empty text becomes NULL
      collapse_whitespace: true   #   runs of whitespace become one space
      fix_mojibake: true          #   "Transportationâ\\x80\\x99s" -> "Transportation’s" (UTF-8 read as cp1252/latin-1)
    dedup:
      on_conflict: keep_latest    # same request_id, different content: keep_latest (by updated_at) | quarantine
    fields:                       # canonical field -> where its value comes from
      <field>:
        column: Status            # a source column (exact header text), or
        constant: web             # a fixed value, or
        expression: "'CD ' || CD" # a DuckDB SQL expression over source columns (all text), or
        hash: [colA, colB]        # request_id only: md5 over these columns, when the export has no id
        # options (all optional):
        values: {Open: received}  # value map; keys match case-insensitively after trim; a null target
                                  #   means "known, but no canonical value" (e.g. channel UNKNOWN)
        match: exact              # exact | prefix (longest matching key prefix wins)
        on_miss: quarantine       # a value the map does not know: quarantine | null | default | keep
                                  #   (default: quarantine for status and request_type, else null)
        default: request          # the value used when on_miss is default
        case: keep                # keep | upper | lower | title (applied to the final text)
        formats: ["%Y-%m-%d"]     # datetime fields only: replaces datetime_formats for this field
        placeholders: ["99999"]   # zip_code only: values that mean "no ZIP code"

Canonical fields: request_id, created_at, status, request_type and service_name are required; the
others are NULL when not mapped (updated_at then falls back to closed_at, else created_at).
status, channel and request_type are vocabulary fields: the (mapped) value must be one of the case
system's values, a vocabulary value maps to itself unless `values` says otherwise, `keep` is not
allowed, and `null` is allowed for channel only. A NULL source value counts as a miss for status and
request_type (no request can lack them) and as "unknown" for channel.

Every text value is normalized (per `text`) before anything else reads it, so value maps and
expressions see trimmed, repaired text. Errors name the mapping file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from cirm.errors import CirmError
from simulator.schema import CHANNELS, REQUEST_TYPES, STATUSES


class MappingError(CirmError):
    """A mapping file is malformed or does not fit the export it is applied to."""


VOCABULARIES: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "channel": CHANNELS,
    "request_type": REQUEST_TYPES,
}
DATETIME_FIELDS = ("created_at", "closed_at", "updated_at")
TEXT_FIELDS = ("service_name", "service_category", "agency", "agency_name", "district", "description")
COORDINATE_FIELDS = ("latitude", "longitude")
CANONICAL_FIELDS: tuple[str, ...] = (
    "request_id",
    "status",
    "channel",
    "request_type",
    "service_name",
    "service_category",
    "agency",
    "agency_name",
    "district",
    "zip_code",
    "latitude",
    "longitude",
    "description",
    "created_at",
    "closed_at",
    "updated_at",
)
REQUIRED_FIELDS = ("request_id", "created_at", "status", "request_type", "service_name")

SOURCE_KEYS = ("column", "constant", "expression", "hash")
ON_MISS = ("quarantine", "null", "default", "keep")
CASES = ("keep", "upper", "lower", "title")
MATCHES = ("exact", "prefix")
ON_CONFLICT = ("keep_latest", "quarantine")
_TOP_KEYS = ("city", "timezone", "datetime_formats", "encoding", "description", "text", "dedup", "fields")
_TEXT_KEYS = ("trim", "collapse_whitespace", "fix_mojibake")


@dataclass(frozen=True)
class FieldSpec:
    """Where one canonical field comes from and how its values are cleaned."""

    name: str
    kind: str  # column | constant | expression | hash
    source: str | tuple[str, ...]
    values: dict[str, str | None] | None = None
    match: str = "exact"
    on_miss: str = "null"
    default: str | None = None
    case: str = "keep"
    formats: tuple[str, ...] | None = None
    placeholders: tuple[str, ...] = ()
    # Source columns the value reads (for expressions: found by DuckDB's parser).
    columns: tuple[str, ...] = ()

    @property
    def vocabulary(self) -> tuple[str, ...] | None:
        return VOCABULARIES.get(self.name)


@dataclass(frozen=True)
class TextRules:
    trim: bool = True
    collapse_whitespace: bool = True
    fix_mojibake: bool = True


@dataclass(frozen=True)
class Mapping:
    path: Path
    city: str
    timezone: str
    datetime_formats: tuple[str, ...]
    fields: dict[str, FieldSpec]
    encoding: str = "utf-8"
    description: str | None = None
    text: TextRules = field(default_factory=TextRules)
    on_conflict: str = "keep_latest"

    @property
    def source_system(self) -> str:
        return self.city

    @property
    def source(self) -> str:
        """The `_source` value of every row this mapping loads."""
        return f"open311/{self.city}"

    @property
    def manifest_channel(self) -> str:
        return f"open311:{self.city}"

    def formats_for(self, name: str) -> tuple[str, ...]:
        spec = self.fields.get(name)
        return spec.formats if spec is not None and spec.formats else self.datetime_formats

    def source_columns(self) -> list[str]:
        """Every source column some field reads, in first-use order."""
        seen: dict[str, None] = {}
        for spec in self.fields.values():
            for col in spec.columns:
                seen.setdefault(col, None)
        return list(seen)

    def check_columns(self, file: Path | str, columns: list[str]) -> None:
        """Refuse an export that lacks a column the mapping reads, naming the field and the column."""
        have = set(columns)
        by_lower = {c.lower(): c for c in columns}

        def named(col: str) -> str:
            near = by_lower.get(col.lower())
            return f"{col!r} (the file has {near!r})" if near else repr(col)

        problems = []
        for spec in self.fields.values():
            missing = [c for c in spec.columns if c not in have]
            if missing:
                problems.append(f"field '{spec.name}' reads {', '.join(named(c) for c in missing)}")
        if problems:
            raise MappingError(
                f"{file}: does not fit mapping {self.path}: missing column(s): {'; '.join(problems)}. "
                f"The file's columns are: {', '.join(columns)}"
            )


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping file; every problem is a `MappingError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MappingError(f"{path}: mapping file not found") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    return parse_mapping(doc, path)


def parse_mapping(doc: Any, path: Path | str) -> Mapping:
    """Validate an already-parsed mapping document (tests build them as dicts)."""
    path = Path(path)

    def fail(message: str) -> MappingError:
        return MappingError(f"{path}: {message}")

    if not isinstance(doc, dict):
        raise fail("a mapping is a YAML mapping with keys city, timezone, datetime_formats and fields")
    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (expected {', '.join(_TOP_KEYS)})")
    for key in ("city", "timezone", "datetime_formats", "fields"):
        if key not in doc:
            raise fail(f"missing required key {key!r}")

    city = doc["city"]
    if not isinstance(city, str) or not city or not all(c.isascii() and (c.isalnum() or c == "_") for c in city):
        raise fail(f"city {city!r} must be a short identifier (letters, digits, _), e.g. nyc")
    city = city.lower()

    con = duckdb.connect()
    try:
        tz = doc["timezone"]
        if not isinstance(tz, str):
            raise fail(f"timezone {tz!r} must be an IANA time zone name such as America/New_York")
        try:
            con.execute("SELECT timezone(?, TIMESTAMP '2020-01-01')", [tz]).fetchall()
        except duckdb.Error as exc:
            raise fail(f"timezone {tz!r} is not a known IANA time zone (e.g. America/New_York)") from exc

        formats = _formats(doc["datetime_formats"], "datetime_formats", con, fail)
        encoding = doc.get("encoding", "utf-8")
        if not isinstance(encoding, str):
            raise fail(f"encoding {encoding!r} must be a text encoding name such as utf-8")
        try:
            "".encode(encoding)
        except LookupError as exc:
            raise fail(f"encoding {encoding!r} is not a known text encoding") from exc

        text = _text_rules(doc.get("text"), fail)
        on_conflict = _on_conflict(doc.get("dedup"), fail)

        raw_fields = doc["fields"]
        if not isinstance(raw_fields, dict):
            raise fail("'fields' must map canonical field names to their source")
        fields: dict[str, FieldSpec] = {}
        for name, spec in raw_fields.items():
            if name not in CANONICAL_FIELDS:
                raise fail(f"unknown field {name!r} (canonical fields: {', '.join(CANONICAL_FIELDS)})")
            fields[name] = _field(name, spec, con, fail)
    finally:
        con.close()
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise fail(f"required field(s) not mapped: {', '.join(missing)}")
    description = doc.get("description")
    return Mapping(
        path=path,
        city=city,
        timezone=tz,
        datetime_formats=formats,
        fields=fields,
        encoding=encoding,
        description=str(description) if description is not None else None,
        text=text,
        on_conflict=on_conflict,
    )


def _formats(value: Any, where: str, con: duckdb.DuckDBPyConnection, fail) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(f, str) for f in value):
        raise fail(f"{where} must be a non-empty list of strptime formats such as '%m/%d/%Y %I:%M:%S %p'")
    for fmt in value:
        if "%z" in fmt or "%Z" in fmt:
            raise fail(f"{where}: format {fmt!r} carries a zone; exports hold local times, set `timezone` instead")
        try:
            con.execute("SELECT try_strptime('', ?)", [fmt]).fetchall()
        except duckdb.Error as exc:
            raise fail(f"{where}: {fmt!r} is not a valid strptime format: {exc}") from exc
    return tuple(value)


def _text_rules(value: Any, fail) -> TextRules:
    if value is None:
        return TextRules()
    if not isinstance(value, dict):
        raise fail(f"'text' must be a mapping with keys {', '.join(_TEXT_KEYS)}")
    for key, flag in value.items():
        if key not in _TEXT_KEYS:
            raise fail(f"text: unknown key {key!r} (expected {', '.join(_TEXT_KEYS)})")
        if not isinstance(flag, bool):
            raise fail(f"text: {key} must be true or false, not {flag!r}")
    return TextRules(**value)


def _on_conflict(value: Any, fail) -> str:
    if value is None:
        return "keep_latest"
    if not isinstance(value, dict) or set(value) - {"on_conflict"}:
        raise fail("'dedup' must be a mapping with the single key on_conflict")
    choice = value.get("on_conflict", "keep_latest")
    if choice not in ON_CONFLICT:
        raise fail(f"dedup: on_conflict {choice!r} is not one of {', '.join(ON_CONFLICT)}")
    return choice


def _allowed_keys(name: str) -> tuple[str, ...]:
    keys: list[str] = ["column", "constant", "expression"]
    if name == "request_id":
        keys = ["column", "expression", "hash"]
    if name in VOCABULARIES or name in TEXT_FIELDS:
        keys += ["values", "match", "on_miss", "default", "case"]
    if name in DATETIME_FIELDS:
        keys.append("formats")
    if name == "zip_code":
        keys.append("placeholders")
    return tuple(keys)


def _text(value: Any) -> str | None:
    """YAML scalars as text: 13 -> '13'; booleans are refused by the caller (YAML 1.1 reads N as false)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(value)


def _field(name: str, spec: Any, con: duckdb.DuckDBPyConnection, fail) -> FieldSpec:
    def ffail(message: str) -> MappingError:
        return fail(f"field '{name}': {message}")

    if isinstance(spec, str):
        spec = {"column": spec}  # shorthand: `agency: Agency`
    if not isinstance(spec, dict):
        raise ffail("expected a mapping with one of column, constant or expression")
    allowed = _allowed_keys(name)
    source_keys = [k for k in SOURCE_KEYS if k in spec and k in allowed]
    for key in spec:
        if key not in allowed:
            if not source_keys:
                expected = [k for k in allowed if k in SOURCE_KEYS]
                raise ffail(f"unknown key {key!r} (expected {', '.join(expected[:-1])} or {expected[-1]})")
            raise ffail(f"unknown key {key!r} (allowed here: {', '.join(allowed)})")
    if len(source_keys) != 1:
        expected = [k for k in allowed if k in SOURCE_KEYS]
        found = f"found {', '.join(source_keys)}" if source_keys else "found none"
        raise ffail(f"needs exactly one of {', '.join(expected)} ({found})")
    kind = source_keys[0]
    raw = spec[kind]
    columns: tuple[str, ...]
    source: str | tuple[str, ...]
    if kind == "hash":
        if not isinstance(raw, list) or not raw or not all(isinstance(c, str) and c for c in raw):
            raise ffail("hash: expected a non-empty list of source column names")
        source = columns = tuple(raw)
    elif kind == "column":
        if not isinstance(raw, str) or not raw:
            raise ffail(f"column: expected a source column name, not {raw!r}")
        source, columns = raw, (raw,)
    elif kind == "constant":
        try:
            value = _text(raw)
        except TypeError:
            raise ffail(f"constant: {raw!r} must be text; quote it") from None
        if value is None:
            raise ffail("constant: a constant cannot be null; leave the field out instead")
        source, columns = value, ()
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise ffail("expression: expected a DuckDB SQL expression over the source columns")
        source, columns = raw, _expression_columns(raw, con, ffail)

    values = _value_map(name, spec.get("values"), ffail)
    match = spec.get("match", "exact")
    if match not in MATCHES:
        raise ffail(f"match {match!r} is not one of {', '.join(MATCHES)}")
    vocabulary = VOCABULARIES.get(name)
    on_miss = spec.get("on_miss", "quarantine" if name in ("status", "request_type") else "null")
    if on_miss is None:  # `on_miss: null` is YAML's null, and means the policy named null
        on_miss = "null"
    if on_miss not in ON_MISS:
        raise ffail(f"on_miss {on_miss!r} is not one of {', '.join(ON_MISS)}")
    if vocabulary is not None and on_miss == "keep":
        raise ffail("on_miss 'keep' would let values outside the vocabulary through; use quarantine, null or default")
    if name in ("status", "request_type") and on_miss == "null":
        raise ffail(f"on_miss 'null' is not allowed: every request needs a {name}; use quarantine or default")
    try:
        default = _text(spec.get("default"))
    except TypeError:
        raise ffail(f"default {spec.get('default')!r} must be text; quote it") from None
    if on_miss == "default" and default is None:
        raise ffail("on_miss is 'default' but no default is given")
    if default is not None and on_miss != "default":
        raise ffail(f"a default is given but on_miss is {on_miss!r}; set on_miss: default")
    if vocabulary is not None and default is not None and default not in vocabulary:
        raise ffail(f"default {default!r} is not one of {', '.join(vocabulary)}")
    if vocabulary is not None and kind == "constant" and values is None and source not in vocabulary:
        raise ffail(f"constant {source!r} is not one of {', '.join(vocabulary)}")
    case = spec.get("case", "keep")
    if case not in CASES:
        raise ffail(f"case {case!r} is not one of {', '.join(CASES)}")
    formats = _formats(spec["formats"], f"field '{name}': formats", con, fail) if "formats" in spec else None
    placeholders = spec.get("placeholders", [])
    if not isinstance(placeholders, list):
        raise ffail("placeholders: expected a list of values that mean 'no ZIP code', e.g. ['00000', '99999']")
    try:
        placeholder_values = tuple(v for v in (_text(p) for p in placeholders) if v is not None)
    except TypeError:
        raise ffail("placeholders: quote each value, e.g. '00000'") from None
    return FieldSpec(
        name=name,
        kind=kind,
        source=source,
        values=values,
        match=match,
        on_miss=on_miss,
        default=default,
        case=case,
        formats=formats,
        placeholders=placeholder_values,
        columns=columns,
    )


def _value_map(name: str, raw: Any, ffail) -> dict[str, str | None] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise ffail("values: expected a mapping from source value to canonical value")
    vocabulary = VOCABULARIES.get(name)
    result: dict[str, str | None] = {}
    for key, target in raw.items():
        try:
            k, t = _text(key), _text(target)
        except TypeError:
            raise ffail(f"values: {key!r}: {target!r} is read by YAML as a boolean; quote it (e.g. 'N': ...)") from None
        if k is None or not k.strip():
            raise ffail("values: a key is empty; a missing source value is a miss (see on_miss)")
        norm = k.strip().lower()
        if norm in result:
            raise ffail(f"values: {k!r} is listed twice (keys match case-insensitively)")
        if vocabulary is not None and t is not None and t not in vocabulary:
            raise ffail(f"values: {k!r} maps to {t!r}, which is not one of {', '.join(vocabulary)}")
        if t is None and name in ("status", "request_type"):
            raise ffail(f"values: {k!r} maps to null, but every request needs a {name}")
        result[norm] = t
    return result


def _expression_columns(expression: str, con: duckdb.DuckDBPyConnection, ffail) -> tuple[str, ...]:
    """The source columns an expression reads, from DuckDB's own parse tree (so quoting is exact)."""
    (tree_json,) = con.execute("SELECT json_serialize_sql(?)", [f"SELECT ({expression}) AS v"]).fetchall()[0]
    tree = json.loads(tree_json)
    if tree.get("error"):
        raise ffail(f"expression does not parse: {tree.get('error_message')}")
    statements = tree.get("statements", [])
    if len(statements) != 1 or len(statements[0]["node"].get("select_list", [])) != 1:
        raise ffail("expression must be one SQL expression (no ';', no extra columns)")
    found: dict[str, None] = {}
    subquery = False

    def names(node: Any) -> set[str]:
        if isinstance(node, dict):
            if node.get("class") == "COLUMN_REF":
                return {node["column_names"][-1]}
            return set().union(*(names(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(names(v) for v in node))
        return set()

    def walk(node: Any, bound: frozenset[str]) -> None:
        nonlocal subquery
        if isinstance(node, dict):
            if node.get("class") == "COLUMN_REF" and node["column_names"][-1] not in bound:
                found.setdefault(node["column_names"][-1], None)
            if node.get("class") == "SUBQUERY":
                subquery = True
            if node.get("class") == "LAMBDA":
                # `lambda y: trim(y)`: y is the lambda's parameter, not a source column.
                walk(node.get("expr"), bound | names(node.get("lhs")))
                return
            for value in node.values():
                walk(value, bound)
        elif isinstance(node, list):
            for value in node:
                walk(value, bound)

    walk(statements[0]["node"]["select_list"], frozenset())
    if subquery:
        raise ffail("expression must not contain a subquery: it is evaluated row by row over the export")
    return tuple(found)
