"""Column schema and column lineage of dbt models, computed once per model version and then reused.

dagster-dbt builds both after every dbt step: a `DESCRIBE` of each model and of each of its
parents, then sqlglot parses and optimizes the compiled SQL and traces every column. That is the
same work with the same answer on every run until a model's SQL or a relation's columns change; it
cost 20 s of a 107 s daily run of a 2,000-citizen city (py-spy), whatever the city's size.

A model's metadata is a function of its compiled SQL (string literals and comments aside), its own
columns, its parents' columns and asset keys, and the dagster-dbt and sqlglot versions. All columns
of the warehouse come from one catalog query; those inputs, hashed, name a cache entry. A hit
attaches the stored metadata; a miss asks dagster-dbt, as before, and stores the answer when it is
complete (schema and lineage). An incomplete answer (a model reading an ephemeral gate has no parent
relation to describe) is not stored: it is cheap to fail again, and a transient failure must not
stick.
"""

import hashlib
import importlib.metadata
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation
from dagster_dbt.core.dbt_event_iterator import _fetch_column_metadata
from dagster_dbt.dagster_dbt_translator import DagsterDbtTranslator

SCHEMA_KEY = "dagster/column_schema"
LINEAGE_KEY = "dagster/column_lineage"
# Bump when what is stored, or how the key is made, changes.
CACHE_FORMAT = 1
# Entries are touched on every hit; the least recently used beyond this many are removed.
KEPT_ENTRIES = 2000
_LINEAGE_NODES = ("model", "snapshot")

Columns = tuple[tuple[str, str], ...]
Catalog = dict[tuple[str, str, str], Columns]

# SQL string literals (the run's own time in the gates' `_gated_at`, a partition's dates) and
# comments move no column's lineage; a column whose type a literal changes changes the node's
# columns in the key. One scan, so that a quote inside a comment (or `--` inside a literal) is read
# as what it is in.
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)

_CATALOG_SQL = """
select table_catalog, table_schema, table_name, column_name, data_type
from information_schema.columns
order by table_catalog, table_schema, table_name, ordinal_position
"""


def relation_identity(props: Mapping[str, Any]) -> tuple[str, str, str]:
    """(database, schema, identifier) of a node or source, lower-cased as the catalog compares them."""
    name = props["identifier"] if props["unique_id"].startswith("source.") else props["alias"]
    return (str(props["database"]).lower(), str(props["schema"]).lower(), str(name).lower())


def compiled_sql_path(target_path: Path, props: Mapping[str, Any]) -> Path:
    """Where dbt wrote the node's compiled SQL (dagster-dbt reads lineage from the same file)."""
    relative = Path(props["original_file_path"].replace("\\", "/"))
    if props["resource_type"] == "snapshot":
        relative = relative / f"{props['name']}.sql"
    return target_path / "compiled" / props["package_name"] / relative


def lineage_sql(compiled_sql: str) -> str:
    """The compiled SQL with string literals emptied and comments dropped: what lineage depends on."""
    return _LITERAL_OR_COMMENT.sub(lambda m: "''" if m.group().startswith("'") else "", compiled_sql)


def cache_key(
    props: Mapping[str, Any],
    compiled_sql: str,
    catalog: Catalog,
    parents: Iterable[Mapping[str, Any]],
    translator: DagsterDbtTranslator,
) -> str:
    """A digest of everything the node's column schema and lineage are computed from."""
    parent_part = sorted(
        (
            p["unique_id"],
            translator.get_asset_key(p).to_user_string(),
            catalog.get(relation_identity(p), ()),
        )
        for p in parents
    )
    payload = {
        "format": CACHE_FORMAT,
        "versions": [importlib.metadata.version(d) for d in ("dagster-dbt", "sqlglot")],
        "node": [props["unique_id"], props.get("relation_name"), catalog.get(relation_identity(props), ())],
        "sql": lineage_sql(compiled_sql),
        "parents": parent_part,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()


class ColumnMetadataCache:
    """One JSON file per entry (dagster's own serialization of the metadata values)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            stored = dg.deserialize_value(path.read_text(encoding="utf-8"), as_type=dict)
        except (OSError, ValueError, dg.DagsterInvariantViolationError):
            return None  # absent, or cut short by a killed run: compute it again
        path.touch()
        return stored

    def put(self, key: str, metadata: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = self.folder / f".{key}.{os.getpid()}.tmp"
        staged.write_text(dg.serialize_value(dict(metadata)), encoding="utf-8")
        os.replace(staged, self._path(key))  # readers see the whole entry or none

    def prune(self, keep: int = KEPT_ENTRIES) -> int:
        """Remove the least recently used entries beyond `keep`; returns how many were removed."""
        if not self.folder.is_dir():
            return 0
        entries = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in entries[keep:]:
            path.unlink(missing_ok=True)
        return max(0, len(entries) - keep)


def _catalog(invocation: DbtCliInvocation) -> Catalog:
    """Every column of the warehouse, through the invocation's own adapter (one query)."""
    adapter = invocation.adapter
    assert adapter is not None
    cwd = os.getcwd()
    os.chdir(invocation.project_dir)  # dbt-duckdb resolves the profile's relative paths from here
    try:
        with adapter.connection_named("cirm_column_catalog"):
            _, table = adapter.execute(_CATALOG_SQL, fetch=True)
    finally:
        os.chdir(cwd)
    catalog: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for database, schema, name, column, data_type in table.rows:
        catalog.setdefault((database.lower(), schema.lower(), name.lower()), []).append((column, data_type))
    return {k: tuple(v) for k, v in catalog.items()}


def _node_of(invocation: DbtCliInvocation, event: Any) -> Mapping[str, Any] | None:
    if not isinstance(event, dg.Output | dg.AssetMaterialization):
        return None
    unique_id = event.metadata.get("unique_id")
    props = invocation.manifest["nodes"].get(getattr(unique_id, "text", None))
    return props if props is not None and props["resource_type"] in _LINEAGE_NODES else None


def _key_of(invocation: DbtCliInvocation, props: Mapping[str, Any], catalog: Catalog) -> str:
    manifest = invocation.manifest
    parents = [manifest["nodes"].get(u) or manifest["sources"][u] for u in manifest["parent_map"][props["unique_id"]]]
    sql_path = compiled_sql_path(invocation.target_path, props)
    sql = sql_path.read_text(encoding="utf-8") if sql_path.exists() else ""
    return cache_key(props, sql, catalog, parents, invocation.dagster_dbt_translator)


def attach_column_metadata(invocation: DbtCliInvocation, events: Iterable[Any], cache_folder: Path) -> Iterator[Any]:
    """The events of a finished dbt invocation, models' and snapshots' with column schema and lineage.

    Misses are computed on dagster-dbt's post-processing threads, as dagster-dbt itself does: a
    first build computes every model's, and the catalog queries overlap with sqlglot's work.
    """
    cache = ColumnMetadataCache(cache_folder)
    events = list(events)
    nodes = {i: props for i, e in enumerate(events) if (props := _node_of(invocation, e)) is not None}
    try:
        catalog = _catalog(invocation) if nodes else {}
    except Exception as exc:  # metadata is for the UI: never fail a step that built its models
        dg.get_dagster_logger().warning(f"column metadata computed without the cache: no catalog ({exc})")
        catalog = None
    keys = {i: _key_of(invocation, props, catalog) for i, props in nodes.items()} if catalog is not None else {}
    found = {i: cache.get(keys[i]) if i in keys else None for i in nodes}
    misses = [i for i, metadata in found.items() if metadata is None]
    with ThreadPoolExecutor(max_workers=invocation.postprocessing_threadpool_num_threads) as pool:
        computed = pool.map(lambda i: _fetch_column_metadata(invocation, events[i], with_column_lineage=True), misses)
        for i, metadata in zip(misses, computed, strict=True):
            found[i] = metadata or {}
            if i in keys and SCHEMA_KEY in found[i] and LINEAGE_KEY in found[i]:
                cache.put(keys[i], found[i])
    for i, event in enumerate(events):
        yield event.with_metadata({**event.metadata, **found[i]}) if i in found else event
    cache.prune()
