"""Open-data 311 imports: real exports end to end, every rule on a hand-written one, exactly once."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from cirm.cli import main
from ingest.warehouse import connect_warehouse, fetch_one, table_checksum
from open311 import Open311FileError, import_files, load_mapping
from open311.importer import QUARANTINE_COLUMNS, REQUEST_COLUMNS
from open311.mapping import CHANNELS, REQUEST_TYPES, STATUSES
from tests.fixtures.open311.exports import (
    LA_2017_SAMPLE,
    LA_2020_SAMPLE,
    MAPPINGS,
    NYC_SAMPLE,
    data_rows,
    nyc_mapping_doc,
    nyc_row,
    samples_dir,
    write_mapping,
    write_nyc,
)

# (mapping, sample, a known row: id, created_at in UTC, status, channel, district)
SAMPLES = [
    pytest.param(
        "nyc",
        NYC_SAMPLE,
        ("56926734", datetime(2023, 3, 1, 4, 44, 53), "closed", None, "Manhattan"),  # 11:44:53 PM EST
        id="nyc",
    ),
    pytest.param(
        "la_2017",
        LA_2017_SAMPLE,
        ("1-870704831", datetime(2018, 1, 1, 7, 59, 58), "closed", "hotline", "CD 13"),  # 11:59:58 PM PST
        id="la_2017",
    ),
    pytest.param(
        "la_2020",
        LA_2020_SAMPLE,
        ("1-1523590121", datetime(2020, 1, 1, 8, 5), "closed", "hotline", "CD 6"),  # 1/1/20 0:05 PST
        id="la_2020",
    ),
]
NOW = datetime(2025, 1, 1)


def _columns(con, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()


@pytest.mark.parametrize(("mapping_name", "sample", "known"), SAMPLES)
def test_sample_imports_end_to_end(tmp_path: Path, mapping_name: str, sample: str, known: tuple) -> None:
    path = samples_dir() / sample
    mapping = load_mapping(MAPPINGS / f"{mapping_name}.yaml")
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        summary = import_files(con, mapping, [path], "load-1", now=NOW)

        # Every row read is accounted for, and the importer read what the csv module counts.
        assert summary.rows_read == data_rows(path)
        assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined + summary.duplicates_dropped
        assert summary.files_loaded == [path.name] and summary.rows_updated == 0
        raw = fetch_one(con, "SELECT count(*), count(DISTINCT request_id) FROM raw.open311_requests")
        assert raw == (summary.rows_loaded, summary.rows_loaded)
        assert fetch_one(con, "SELECT count(*) FROM raw.open311_quarantine") == (summary.rows_quarantined,)
        assert "read = loaded + quarantined + duplicates: ok" in summary.describe()

        # The contract's shape and vocabularies.
        assert _columns(con, "raw.open311_requests") == [(c, t) for c, t in REQUEST_COLUMNS]
        assert _columns(con, "raw.open311_quarantine") == [(c, t) for c, t in QUARANTINE_COLUMNS]
        for column, vocabulary in (("status", STATUSES), ("channel", CHANNELS), ("request_type", REQUEST_TYPES)):
            values = {v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM raw.open311_requests").fetchall()}
            assert values - {None} <= set(vocabulary), column
        assert (
            fetch_one(con, "SELECT count(*) FROM raw.open311_requests WHERE status IS NULL OR request_type IS NULL")[0]
            == 0
        )
        bad = fetch_one(
            con,
            "SELECT count(*) FROM raw.open311_requests WHERE NOT regexp_full_match(zip_code, '\\d{5}') "
            "OR closed_at < created_at OR updated_at < created_at OR updated_at < closed_at "
            "OR NOT latitude BETWEEN -90 AND 90 OR (latitude IS NULL) <> (longitude IS NULL) "
            "OR service_name <> trim(service_name) OR service_category IS NULL",
        )
        assert bad == (0,)
        assert fetch_one(
            con, "SELECT DISTINCT source_system, _source, _load_id, _source_file FROM raw.open311_requests"
        ) == (
            mapping.city,
            f"open311/{mapping.city}",
            "load-1",
            path.name,
        )

        # One known row, its local time converted to UTC.
        key, created_utc, status, channel, district = known
        row = fetch_one(
            con,
            "SELECT created_at, status, channel, district FROM raw.open311_requests WHERE request_id = ?",
            [key],
        )
        assert row == (created_utc, status, channel, district)

        # Importing the same file again changes nothing.
        before = table_checksum(con, "raw", "open311_requests")
        again = import_files(con, mapping, [path], "load-2", now=NOW)
        assert again.files_skipped == [path.name] and again.files_loaded == [] and again.rows_read == 0
        assert table_checksum(con, "raw", "open311_requests") == before
        assert fetch_one(con, "SELECT count(*), sum(rows_read) FROM meta.open311_manifest") == (1, summary.rows_read)

        # A copy under another name is the same export: skipped, not loaded twice.
        copy = tmp_path / "renamed.csv"
        shutil.copy(path, copy)
        assert import_files(con, mapping, [copy], "load-3", now=NOW).files_skipped == ["renamed.csv"]

        # A changed file under an imported name is refused, and nothing of it is loaded.
        changed = tmp_path / "changed" / path.name
        changed.parent.mkdir()
        changed.write_bytes(path.read_bytes().rstrip(b"\n")[:-1] + b"\n")
        with pytest.raises(Open311FileError, match=f"changed after they were imported.*{path.name}"):
            import_files(con, mapping, [changed], "load-4", now=NOW)
        assert table_checksum(con, "raw", "open311_requests") == before


def test_nyc_sample_broken_rows_are_quarantined_or_normalized(tmp_path: Path) -> None:
    path = samples_dir() / NYC_SAMPLE
    with path.open(newline="", encoding="utf-8") as f:
        source = list(csv.DictReader(f))
    placeholder_keys = {r["Unique Key"] for r in source if r["Incident Zip"] in ("66666", "88888", "99999")}
    unknown_channel = {r["Unique Key"] for r in source if r["Open Data Channel Type"] == "UNKNOWN"}
    assert len(placeholder_keys) == 68

    with connect_warehouse(tmp_path / "w.duckdb") as con:
        summary = import_files(con, load_mapping(MAPPINGS / "nyc.yaml"), [path], "load-1", now=NOW)
        assert summary.quarantined_by_reason == {"closed_before_created": 2}
        rows = con.execute(
            "SELECT _row_number, reason, field, value, record->>'Unique Key' FROM raw.open311_quarantine "
            "ORDER BY _row_number"
        ).fetchall()
        assert rows == [
            (1, "closed_before_created", "closed_at", "01/01/2023 01:00:00 AM", "56923577"),
            (2, "closed_before_created", "closed_at", "02/01/2023 01:04:12 AM", "56921224"),
        ]
        # The record is the source row as delivered, every column, mojibake and all.
        record = fetch_one(con, "SELECT record::JSON FROM raw.open311_quarantine WHERE _row_number = 1")[0]
        assert len(__import__("json").loads(record)) == 46

        # Placeholder ZIP codes are NULL, and counted.
        zips = con.execute(
            "SELECT request_id, zip_code FROM raw.open311_requests WHERE request_id IN (SELECT unnest(?))",
            [sorted(placeholder_keys)],
        ).fetchall()
        assert len(zips) == 68 and {z for _, z in zips} == {None}
        assert summary.normalized["placeholder_zip"] == 68
        assert fetch_one(
            con, "SELECT count(*) FROM raw.open311_requests WHERE zip_code IN ('66666', '88888', '99999')"
        ) == (0,)
        # UNKNOWN channel is "not known", not a value; the two quarantined rows include one of them.
        assert summary.normalized["unknown_channel"] == len(unknown_channel) - 1
        # Casing: boroughs read as names, agencies as codes.
        districts = {d for (d,) in con.execute("SELECT DISTINCT district FROM raw.open311_requests").fetchall()}
        assert districts == {"Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"}


def test_la_2017_sample_quarantines_closed_before_created(tmp_path: Path) -> None:
    path = samples_dir() / LA_2017_SAMPLE
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        summary = import_files(con, load_mapping(MAPPINGS / "la_2017.yaml"), [path], "load-1", now=NOW)
        assert summary.quarantined_by_reason == {"closed_before_created": 12}
        assert summary.rows_loaded == 9987
        channels = dict(con.execute("SELECT channel, count(*) FROM raw.open311_requests GROUP BY ALL").fetchall())
        assert channels[None] == 5  # Council's Office: the resident's channel is not known
        assert (
            channels["service_hall"] == 1 and channels["email"] == 33 - 1
        )  # one email request closed "before" created


def test_both_la_shapes_share_one_source_system(tmp_path: Path) -> None:
    folder = samples_dir()
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        a = import_files(con, load_mapping(MAPPINGS / "la_2017.yaml"), [folder / LA_2017_SAMPLE], "l1", now=NOW)
        b = import_files(con, load_mapping(MAPPINGS / "la_2020.yaml"), [folder / LA_2020_SAMPLE], "l2", now=NOW)
        assert (
            fetch_one(con, "SELECT count(*), count(DISTINCT request_id) FROM raw.open311_requests")
            == (a.rows_loaded + b.rows_loaded,) * 2
        )
        assert fetch_one(con, "SELECT DISTINCT source_system FROM raw.open311_requests") == ("la",)


# ---------------------------------------------------------------- every rule, on a hand-written export


def _broken_export(path: Path) -> Path:
    garbled = "Department of Transportation\u00e2\u0080\u0099s"
    rows = [
        nyc_row("1", Descriptor=f"  {garbled}   report ", **{"Agency Name": "Dept  of\u00a0Parks"}),
        nyc_row("2", **{"Incident Zip": "10025-1234", "Open Data Channel Type": "online", "Status": " in progress "}),
        nyc_row("2", **{"Incident Zip": "10025-1234", "Open Data Channel Type": "online", "Status": " in progress "}),
        nyc_row("3", **{"Incident Zip": "N/A", "Latitude": "0", "Longitude": "0", "Open Data Channel Type": "OTHER"}),
        nyc_row("4", **{"Incident Zip": "99999", "Latitude": "140.1", "Complaint Type": "Taxi Compliment"}),
        nyc_row("", Descriptor="no id"),
        nyc_row("6", **{"Created Date": "yesterday"}),
        nyc_row("7", **{"Created Date": ""}),
        nyc_row("8", **{"Closed Date": "31/31/2023 99:00:00 PM"}),
        nyc_row("9", **{"Created Date": "01/01/2030 10:00:00 AM", "Closed Date": ""}),
        nyc_row("10", **{"Closed Date": "02/01/2023 09:00:00 AM"}),
        nyc_row("11", Status="Escalated"),
        nyc_row("12", **{"Closed Date": "", "Status": "Open", "Resolution Action Updated Date": ""}),
        # The same request twice with different content: the later update wins.
        nyc_row(
            "13",
            Status="In Progress",
            **{"Closed Date": "", "Resolution Action Updated Date": "03/01/2023 08:00:00 AM"},
        ),
        nyc_row("13", Status="Closed", **{"Closed Date": "03/01/2023 10:00:00 AM"}),
        nyc_row("14", **{"Open Data Channel Type": "CARRIER PIGEON", "Borough": "Unspecified"}),
    ]
    return write_nyc(path, rows)


def test_every_rule_on_a_hand_written_export(tmp_path: Path) -> None:
    export = _broken_export(tmp_path / "nyc_broken.csv")
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        s = import_files(con, load_mapping(MAPPINGS / "nyc.yaml"), [export], "load-1", now=NOW)
        assert s.rows_read == 16 == data_rows(export)
        assert s.quarantined_by_reason == {
            "missing_request_id": 1,
            "unparsed_created_at": 1,
            "missing_created_at": 1,
            "unparsed_closed_at": 1,
            "future_created_at": 1,
            "closed_before_created": 1,
            "unmapped_status": 1,
        }
        assert s.duplicates_by_kind == {"exact_duplicate": 1, "superseded_in_file": 1, "not_newer_than_loaded": 0}
        assert s.rows_loaded == 7 and s.rows_read == s.rows_loaded + s.rows_quarantined + s.duplicates_dropped
        assert s.datetime_failures == {"created_at": 1, "closed_at": 1, "updated_at": 0}
        assert s.normalized["placeholder_zip"] == 2  # N/A and 99999
        assert s.normalized["invalid_coordinates"] == 2  # 0,0 and latitude 140
        assert s.normalized["mojibake_fixed"] == 1
        assert s.normalized["unknown_channel"] == 2  # OTHER, and a value the map does not know
        assert s.normalized["channel_unmapped_nulled"] == 1
        assert s.normalized["updated_at_fallback"] == 1  # request 12: no update date, falls back to created

        q = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT _row_number, reason, field, value FROM raw.open311_quarantine ORDER BY _row_number"
            ).fetchall()
        }
        assert q == {
            6: ("missing_request_id", "request_id", None),
            7: ("unparsed_created_at", "created_at", "yesterday"),
            8: ("missing_created_at", "created_at", None),
            9: ("unparsed_closed_at", "closed_at", "31/31/2023 99:00:00 PM"),
            10: ("future_created_at", "created_at", "01/01/2030 10:00:00 AM"),
            11: ("closed_before_created", "closed_at", "02/01/2023 09:00:00 AM"),
            12: ("unmapped_status", "status", "Escalated"),
        }

        def row(key: str, *columns: str) -> tuple:
            return fetch_one(con, f"SELECT {', '.join(columns)} FROM raw.open311_requests WHERE request_id = ?", [key])

        # Text: trimmed, whitespace collapsed, mojibake repaired (only the affected value changed).
        assert row("1", "description", "agency_name") == ("Department of Transportation’s report", "Dept of Parks")
        assert row("2", "zip_code", "channel", "status") == ("10025", "web", "in_progress")
        assert row("3", "zip_code", "latitude", "longitude", "channel") == (None, None, None, None)
        assert row("4", "zip_code", "latitude", "longitude", "request_type") == (None, None, None, "praise")
        assert row("12", "status", "closed_at", "updated_at", "created_at") == (
            "received",
            None,
            datetime(2023, 3, 1, 4, 0),
            datetime(2023, 3, 1, 4, 0),
        )
        assert row("13", "status", "closed_at", "_row_number") == ("closed", datetime(2023, 3, 1, 15, 0), 15)
        assert row("14", "channel", "district") == (None, None)
        assert row("1", "service_category", "request_type", "agency") == ("Noise and Nuisance", "complaint", "NYPD")


def test_conflicting_duplicates_can_be_quarantined_instead(tmp_path: Path) -> None:
    doc = nyc_mapping_doc()
    doc["dedup"] = {"on_conflict": "quarantine"}
    mapping = load_mapping(write_mapping(tmp_path / "strict.yaml", doc))
    export = write_nyc(
        tmp_path / "x.csv", [nyc_row("1"), nyc_row("1"), nyc_row("2", Status="Open"), nyc_row("2", Status="Closed")]
    )
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        s = import_files(con, mapping, [export], "load-1", now=NOW)
        assert s.quarantined_by_reason == {"conflicting_duplicate": 2}
        assert s.duplicates_by_kind["exact_duplicate"] == 1 and s.rows_loaded == 1
        assert con.execute("SELECT DISTINCT field, value FROM raw.open311_quarantine").fetchall() == [
            ("request_id", "2")
        ]


def test_a_newer_export_updates_requests_and_an_older_one_does_not(tmp_path: Path) -> None:
    mapping = load_mapping(MAPPINGS / "nyc.yaml")
    open_ = {"Status": "Open", "Closed Date": "", "Resolution Action Updated Date": "03/01/2023 08:00:00 AM"}
    closed = {"Status": "Closed", "Closed Date": "03/02/2023 09:00:00 AM", "Resolution Action Updated Date": ""}
    first = write_nyc(tmp_path / "nyc_2023-03-01.csv", [nyc_row("1", **open_), nyc_row("2", **open_)])
    newer = write_nyc(tmp_path / "nyc_2023-03-02.csv", [nyc_row("1", **closed), nyc_row("3", **open_)])
    older = write_nyc(
        tmp_path / "nyc_2023-02-28.csv",
        [nyc_row("1", Status="Open", **{"Closed Date": "", "Resolution Action Updated Date": ""})],
    )
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        import_files(con, mapping, [first], "load-1", now=NOW)
        s = import_files(con, mapping, [newer], "load-2", now=NOW)
        assert (s.rows_inserted, s.rows_updated, s.rows_loaded) == (1, 1, 2)
        assert fetch_one(
            con,
            "SELECT status, closed_at, updated_at, _source_file, _load_id FROM raw.open311_requests "
            "WHERE request_id = '1'",
        ) == ("closed", datetime(2023, 3, 2, 14, 0), datetime(2023, 3, 2, 14, 0), newer.name, "load-2")
        assert fetch_one(con, "SELECT count(*), count(DISTINCT request_id) FROM raw.open311_requests") == (3, 3)

        s = import_files(con, mapping, [older], "load-3", now=NOW)
        assert s.rows_loaded == 0 and s.duplicates_by_kind["not_newer_than_loaded"] == 1
        assert fetch_one(con, "SELECT status FROM raw.open311_requests WHERE request_id = '1'") == ("closed",)
        log = con.execute(
            "SELECT load_id, rows_read, rows_inserted, rows_updated FROM meta.load_log ORDER BY load_id"
        ).fetchall()
        assert log == [("load-1", 2, 2, 0), ("load-2", 2, 1, 1), ("load-3", 1, 0, 0)]


def test_rows_and_manifest_commit_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import open311.importer as importer

    export = write_nyc(tmp_path / "x.csv", [nyc_row("1"), nyc_row("2")])
    mapping = load_mapping(MAPPINGS / "nyc.yaml")
    real_write = importer._write

    def write_then_fail(*args, **kwargs):
        real_write(*args, **kwargs)
        raise RuntimeError("disk full")

    with connect_warehouse(tmp_path / "w.duckdb") as con:
        monkeypatch.setattr(importer, "_write", write_then_fail)
        with pytest.raises(RuntimeError, match="disk full"):
            import_files(con, mapping, [export], "load-1", now=NOW)
        assert fetch_one(con, "SELECT count(*) FROM raw.open311_requests") == (0,)
        assert fetch_one(con, "SELECT count(*) FROM meta.open311_manifest") == (0,)
        monkeypatch.setattr(importer, "_write", real_write)
        assert import_files(con, mapping, [export], "load-2", now=NOW).rows_loaded == 2


def test_a_file_list_with_a_changed_file_imports_nothing(tmp_path: Path) -> None:
    mapping = load_mapping(MAPPINGS / "nyc.yaml")
    a = write_nyc(tmp_path / "a.csv", [nyc_row("1")])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        import_files(con, mapping, [a], "load-1", now=NOW)
        write_nyc(a, [nyc_row("1", Status="Open")])
        b = write_nyc(tmp_path / "b.csv", [nyc_row("2")])
        with pytest.raises(Open311FileError, match="a.csv"):
            import_files(con, mapping, [b, a], "load-2", now=NOW)
        assert fetch_one(con, "SELECT count(*) FROM raw.open311_requests") == (1,)


def test_two_different_files_under_one_name_are_refused(tmp_path: Path) -> None:
    mapping = load_mapping(MAPPINGS / "nyc.yaml")
    a = write_nyc(tmp_path / "one" / "x.csv", [nyc_row("1")])
    b = write_nyc(tmp_path / "two" / "x.csv", [nyc_row("2")])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        with pytest.raises(Open311FileError, match="two different files named x.csv"):
            import_files(con, mapping, [a, b], "load-1", now=NOW)
        assert fetch_one(con, "SELECT count(*) FROM raw.open311_requests") == (0,)


# ---------------------------------------------------------------- the command line


def test_cli_import_prints_the_summary(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = _broken_export(tmp_path / "nyc_broken.csv")
    assert main(["import-open311", "--mapping", str(MAPPINGS / "nyc.yaml"), str(export)]) == 0
    out = capsys.readouterr().out
    assert "1 file(s) imported" in out and "rows read                    16" in out
    assert "unparsed_created_at" in out and "placeholder_zip" in out
    assert "read = loaded + quarantined + duplicates: ok" in out
    with connect_warehouse(data_dir / "warehouse.duckdb", read_only=True) as con:
        assert fetch_one(con, "SELECT count(*) FROM raw.open311_requests") == (7,)

    assert main(["import-open311", "--mapping", str(MAPPINGS / "nyc.yaml"), str(export)]) == 0
    assert "0 file(s) imported, 1 skipped" in capsys.readouterr().out


def test_cli_errors_exit_2_without_a_trace(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_nyc(tmp_path / "x.csv", [nyc_row("1")])
    doc = nyc_mapping_doc()
    doc["fields"]["status"]["values"]["Closed"] = "done"
    bad = write_mapping(tmp_path / "bad.yaml", doc)
    assert main(["import-open311", "--mapping", str(bad), str(export)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cirm: error: {bad}: field 'status': values: 'Closed' maps to 'done'")
    assert "Traceback" not in err
    assert not (data_dir / "warehouse.duckdb").exists()  # refused before the warehouse was touched

    assert main(["import-open311", "--mapping", str(MAPPINGS / "nyc.yaml"), str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: file not found" in capsys.readouterr().err
