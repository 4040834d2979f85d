"""The column-metadata cache: what its key is made of, and the store (real dagster metadata values).

The cache's hits inside a real run are checked end to end in test_pipeline_e2e (a new day's run adds
no entry and carries the first run's lineage).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.dbt.column_metadata import (
    LINEAGE_KEY,
    SCHEMA_KEY,
    ColumnMetadataCache,
    cache_key,
    compiled_sql_path,
    lineage_sql,
    relation_identity,
)
from orchestration.dbt.project import dbt_project, ensure_manifest
from orchestration.dbt.translator import CirmDbtTranslator

SQL = "select a, 'x' as kind -- the gate's time\nfrom t where at < timestamp '2026-12-03 20:32:09'"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(dbt_project).read_text())


def _node(manifest: dict, name: str) -> dict:
    return manifest["nodes"][f"model.cirm.{name}"]


def _parents(manifest: dict, props: dict) -> list[dict]:
    return [manifest["nodes"].get(u) or manifest["sources"][u] for u in manifest["parent_map"][props["unique_id"]]]


def _catalog(manifest: dict, props: dict, parent_type: str = "BIGINT") -> dict:
    catalog = {relation_identity(props): (("a", "BIGINT"), ("kind", "VARCHAR"))}
    for parent in _parents(manifest, props):
        catalog[relation_identity(parent)] = (("a", parent_type),)
    return catalog


def test_literals_and_comments_do_not_count_but_structure_does() -> None:
    masked = lineage_sql(SQL)
    assert "2026" not in masked and "gate" not in masked and "'x'" not in masked
    # A quote inside a comment, and `--` inside a literal, are read as what they are in.
    assert lineage_sql("select '--a' as b, c -- it's\nfrom t") == "select '' as b, c \nfrom t"
    assert lineage_sql(SQL.replace("2026-12-03", "2027-01-01")) == masked
    assert lineage_sql(SQL.replace("select a,", "select b,")) != masked


def test_the_key_follows_sql_columns_and_parents(manifest: dict) -> None:
    props = _node(manifest, "fct_service_requests")
    translator = CirmDbtTranslator()
    parents = _parents(manifest, props)
    assert parents
    base = cache_key(props, SQL, _catalog(manifest, props), parents, translator)
    assert cache_key(props, SQL, _catalog(manifest, props), parents, translator) == base
    # A new run's time or partition window: the same lineage.
    assert cache_key(props, SQL.replace("20:32:09", "21:00:00"), _catalog(manifest, props), parents, translator) == base
    # Another column selected, a parent's column retyped, the model's own columns changed, another model.
    assert cache_key(props, SQL.replace("a,", "b,"), _catalog(manifest, props), parents, translator) != base
    assert cache_key(props, SQL, _catalog(manifest, props, "VARCHAR"), parents, translator) != base
    grown = {**_catalog(manifest, props), relation_identity(props): (("a", "BIGINT"),)}
    assert cache_key(props, SQL, grown, parents, translator) != base
    other = _node(manifest, "fct_contacts")
    assert cache_key(other, SQL, _catalog(manifest, props), parents, translator) != base


def test_compiled_sql_path_is_where_dbt_writes_it(manifest: dict, tmp_path: Path) -> None:
    props = _node(manifest, "fct_service_requests")
    assert compiled_sql_path(tmp_path, props) == (
        tmp_path / "compiled" / "cirm" / "models" / "marts" / "core" / "fct_service_requests.sql"
    )
    snapshot = next(n for n in manifest["nodes"].values() if n["resource_type"] == "snapshot")
    assert compiled_sql_path(tmp_path, snapshot).name == f"{snapshot['name']}.sql"


def _metadata() -> dict:
    return {
        SCHEMA_KEY: dg.MetadataValue.table_schema(dg.TableSchema([dg.TableColumn("a", "BIGINT")])),
        LINEAGE_KEY: dg.MetadataValue.column_lineage(
            dg.TableColumnLineage({"a": [dg.TableColumnDep(dg.AssetKey(["staging", "t"]), "a")]})
        ),
    }


def test_the_store_returns_what_was_put_and_skips_a_damaged_entry(tmp_path: Path) -> None:
    cache = ColumnMetadataCache(tmp_path / "cache")
    assert cache.get("k1") is None
    cache.put("k1", _metadata())
    assert cache.get("k1") == _metadata()
    (tmp_path / "cache" / "k2.json").write_text('{"dagster/column_schema": {"__class__": "Table')
    assert cache.get("k2") is None  # cut short: computed again, never a crash
    assert not list((tmp_path / "cache").glob(".*"))  # no staged file left behind
    # An entry computed again is a new file, a hit is not: test_pipeline_e2e tells hits by this.
    inode = (tmp_path / "cache" / "k1.json").stat().st_ino
    cache.get("k1")
    assert (tmp_path / "cache" / "k1.json").stat().st_ino == inode
    cache.put("k1", _metadata())
    assert (tmp_path / "cache" / "k1.json").stat().st_ino != inode


def test_prune_keeps_the_most_recently_used(tmp_path: Path) -> None:
    cache = ColumnMetadataCache(tmp_path)
    for i, key in enumerate(("old", "used", "new")):
        cache.put(key, _metadata())
        os.utime(tmp_path / f"{key}.json", (1000 + i, 1000 + i))
    assert cache.get("old") is not None  # a hit makes it the most recently used
    assert cache.prune(keep=2) == 1
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["new", "old"]


def test_no_catalog_degrades_to_no_cache_never_to_a_failed_step(manifest: dict, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from orchestration.dbt.column_metadata import attach_column_metadata

    # An invocation without a database adapter: the catalog query cannot run, and dagster-dbt's own
    # pass has nothing to describe. The events still come through, in order, and nothing is stored.
    invocation = SimpleNamespace(
        adapter=None,
        manifest=manifest,
        target_path=tmp_path,
        project_dir=tmp_path,
        postprocessing_threadpool_num_threads=2,
    )
    model = dg.Output(None, output_name="dim_service", metadata={"unique_id": "model.cirm.dim_service"})
    other = dg.AssetObservation(asset_key="x", metadata={"unique_id": "test.cirm.some_test"})
    out = list(attach_column_metadata(invocation, [model, other], tmp_path / "cache"))  # type: ignore[arg-type]
    assert [type(e) for e in out] == [dg.Output, dg.AssetObservation]
    assert SCHEMA_KEY not in out[0].metadata and out[0].metadata["unique_id"] == model.metadata["unique_id"]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
