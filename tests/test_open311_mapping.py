"""Open-data 311 mappings: the shipped ones load, bad ones fail naming file, field and value."""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pytest

from cirm.cli import main
from open311 import MappingError, Open311FileError, import_files, load_mapping, validate_mapping
from open311.mapping import CANONICAL_FIELDS, VOCABULARIES
from open311.text import repair_mojibake
from tests.fixtures.open311.exports import (
    MAPPINGS,
    NYC_SAMPLE,
    REPO,
    nyc_mapping_doc,
    nyc_row,
    samples_dir,
    write_mapping,
    write_nyc,
)


@pytest.mark.parametrize(
    ("name", "city", "timezone"),
    [
        ("nyc", "nyc", "America/New_York"),
        ("la_2017", "la", "America/Los_Angeles"),
        ("la_2020", "la", "America/Los_Angeles"),
    ],
)
def test_shipped_mappings_load(name: str, city: str, timezone: str) -> None:
    mapping = load_mapping(MAPPINGS / f"{name}.yaml")
    assert (mapping.city, mapping.timezone, mapping.source) == (city, timezone, f"open311/{city}")
    assert set(mapping.fields) <= set(CANONICAL_FIELDS)
    for field in ("request_id", "created_at", "closed_at", "updated_at", "status", "channel", "request_type"):
        assert field in mapping.fields
    for field, vocabulary in VOCABULARIES.items():
        targets = set((mapping.fields[field].values or {}).values()) - {None}
        assert targets <= set(vocabulary), field


def test_expression_columns_come_from_the_parser(tmp_path: Path) -> None:
    la = load_mapping(MAPPINGS / "la_2017.yaml")
    assert la.fields["district"].columns == ("CD",)
    nyc = load_mapping(MAPPINGS / "nyc.yaml")
    assert nyc.fields["request_type"].columns == ("Complaint Type",)
    assert "Resolution Description" not in nyc.source_columns()
    doc = nyc_mapping_doc()
    split = "list_transform(string_split(\"Descriptor\", '/'), lambda part: trim(part))"
    doc["fields"]["description"] = {"expression": f"array_to_string({split}, ' / ')"}
    spec = load_mapping(write_mapping(tmp_path / "lambda.yaml", doc)).fields["description"]
    assert spec.columns == ("Descriptor",)  # the lambda's parameter is not a source column


def _set(path: str, value: object):
    """A change to the NYC mapping document: `path` is dotted, a value of DELETE removes the key."""

    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return change


DELETE = object()

BAD_MAPPINGS = [
    pytest.param(
        _set("fields.status", {"colum": "Status"}),
        "field 'status': unknown key 'colum' (expected column, constant or expression)",
        id="misspelled-source-key",
    ),
    pytest.param(
        _set("fields.status.values.Closed", "done"),
        "field 'status': values: 'Closed' maps to 'done', which is not one of received, assigned",
        id="status-target-outside-vocabulary",
    ),
    pytest.param(
        _set("fields.channel.values.PHONE", "fax"),
        "field 'channel': values: 'PHONE' maps to 'fax'",
        id="channel-target-outside-vocabulary",
    ),
    pytest.param(
        _set("fields.request_type", {"constant": "question"}),
        "field 'request_type': constant 'question' is not one of request, complaint",
        id="constant-outside-vocabulary",
    ),
    pytest.param(
        _set("fields.statuz", {"column": "Status"}),
        "unknown field 'statuz' (canonical fields: request_id",
        id="unknown-field",
    ),
    pytest.param(_set("fields.status", DELETE), "required field(s) not mapped: status", id="missing-status"),
    pytest.param(
        _set("fields.status", {"column": "Status", "constant": "closed"}),
        "field 'status': needs exactly one of column, constant, expression (found column, constant)",
        id="two-sources",
    ),
    pytest.param(
        _set("fields.status.on_miss", "null"),
        "field 'status': on_miss 'null' is not allowed",
        id="status-cannot-be-null",
    ),
    pytest.param(
        _set("fields.service_category.default", DELETE),
        "field 'service_category': on_miss is 'default' but no default is given",
        id="default-missing",
    ),
    pytest.param(
        _set("fields.channel", {"column": "Open Data Channel Type", "on_miss": "default", "default": "phone"}),
        "field 'channel': default 'phone' is not one of hotline",
        id="default-outside-vocabulary",
    ),
    pytest.param(
        _set("fields.channel.values", {True: "hotline"}),
        "field 'channel': values: True: 'hotline' is read by YAML as a boolean; quote it",
        id="yaml-boolean-key",
    ),
    pytest.param(
        _set("fields.district", {"expression": "CASE WHEN THEN"}),
        "field 'district': expression does not parse",
        id="expression-syntax",
    ),
    pytest.param(
        _set("fields.district", {"expression": "(SELECT max(x) FROM t)"}),
        "field 'district': expression must not contain a subquery",
        id="expression-subquery",
    ),
    pytest.param(
        _set("fields.request_id", {"constant": "1"}),
        "field 'request_id': unknown key 'constant' (expected column, expression or hash)",
        id="constant-id",
    ),
    pytest.param(
        _set("fields.zip_code.placeholder", ["00000"]),
        "field 'zip_code': unknown key 'placeholder' (allowed here: column, constant, expression, placeholders)",
        id="misspelled-option",
    ),
    pytest.param(_set("timezone", "Mars/Base"), "timezone 'Mars/Base' is not a known IANA time zone", id="timezone"),
    pytest.param(
        _set("datetime_formats", ["%m/%d/%Y %Q"]),
        "datetime_formats: '%m/%d/%Y %Q' is not a valid strptime format",
        id="bad-format",
    ),
    pytest.param(
        _set("datetime_formats", ["%Y-%m-%d %H:%M:%S%z"]), "carries a zone; exports hold local times", id="zoned"
    ),
    pytest.param(_set("dedup.on_conflict", "newest"), "dedup: on_conflict 'newest' is not one of", id="dedup"),
    pytest.param(_set("city", "New York"), "city 'New York' must be a short identifier", id="city"),
    pytest.param(_set("colums", {}), "unknown key 'colums' (expected city, timezone", id="unknown-top-key"),
]


@pytest.mark.parametrize(("change", "message"), BAD_MAPPINGS)
def test_bad_mappings_name_file_field_and_value(tmp_path: Path, change, message: str) -> None:
    doc = copy.deepcopy(nyc_mapping_doc())
    change(doc)
    path = write_mapping(tmp_path / "bad.yaml", doc)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_unreadable_mappings(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("city: [nyc\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(tmp_path / "broken.yaml")


def test_a_file_without_a_mapped_column_is_refused_naming_field_and_column(tmp_path: Path) -> None:
    export = tmp_path / "renamed.csv"
    header = "Unique Key,Created Date,Closed Date,Agency,Agency Name,Complaint Type,Descriptor,Incident Zip,Stat"
    export.write_text(header + "\n1,02/28/2023 11:00:00 PM,,NYPD,Police,Noise,Loud,10025,Open\n", encoding="utf-8")
    mapping = load_mapping(MAPPINGS / "nyc.yaml")
    for attempt in (
        lambda: validate_mapping(mapping, export),
        lambda: import_files(duckdb.connect(), mapping, [export], "load-1"),
    ):
        with pytest.raises(MappingError) as err:
            attempt()
        message = str(err.value)
        assert message.startswith(f"{export}: does not fit mapping {MAPPINGS / 'nyc.yaml'}")
        assert "missing column(s): field 'updated_at' reads 'Resolution Action Updated Date';" in message
        assert "field 'status' reads 'Status';" in message
        assert "field 'channel' reads 'Open Data Channel Type';" in message
        assert message.endswith(
            "The file's columns are: Unique Key, Created Date, Closed Date, Agency, Agency Name, "
            "Complaint Type, Descriptor, Incident Zip, Stat"
        )


def test_a_column_spelled_in_another_case_is_pointed_out() -> None:
    mapping = load_mapping(MAPPINGS / "la_2020.yaml")
    with pytest.raises(MappingError, match="field 'request_id' reads 'srnumber' \\(the file has 'SRNumber'\\)"):
        mapping.check_columns("la.csv", ["SRNumber", "CreatedDate"])


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "empty.csv"
    export.write_bytes(b"")
    with pytest.raises(Open311FileError, match="the file is empty"):
        validate_mapping(load_mapping(MAPPINGS / "nyc.yaml"), export)


def test_mojibake_is_repaired_and_real_accents_are_kept() -> None:
    assert repair_mojibake("Department of Transportation\u00e2\u0080\u0099s") == "Department of Transportation’s"
    assert repair_mojibake("the â€œLearn Moreâ€\x9d link") == "the “Learn More” link"  # cp1252 reading
    assert repair_mojibake("CafÃƒÂ©") == "Café"  # garbled twice
    for fine in ("Café", "Crème brûlée", "plain text", "50° north", "Transportation’s"):
        assert repair_mojibake(fine) == fine


def test_the_nyc_sample_mojibake_round_trips() -> None:
    """The sample's Resolution Description carries UTF-8 read as latin-1; the repair undoes it."""
    import csv

    path = samples_dir() / NYC_SAMPLE
    with path.open(newline="", encoding="utf-8") as f:
        garbled = {
            r["Resolution Description"] for r in csv.DictReader(f) if "\u00e2\u0080" in r["Resolution Description"]
        }
    assert garbled
    repaired = {repair_mojibake(v) for v in garbled}
    assert any("Department of Transportation’s website" in v for v in repaired)
    assert not any("\u00e2\u0080" in v for v in repaired)


def _incomplete_status_map(tmp_path: Path) -> Path:
    doc = nyc_mapping_doc()
    for status in ("In Progress", "Started"):
        del doc["fields"]["status"]["values"][status]
    return write_mapping(tmp_path / "nyc_incomplete.yaml", doc)


def test_validate_mapping_reports_unmapped_columns_and_misses(tmp_path: Path) -> None:
    sample = samples_dir() / NYC_SAMPLE
    report = validate_mapping(load_mapping(_incomplete_status_map(tmp_path)), sample)
    assert report.rows == 4999 and len(report.columns) == 46
    assert "Resolution Description" in report.unmapped_columns and "Status" not in report.unmapped_columns
    assert len(report.unmapped_columns) == 46 - len(load_mapping(MAPPINGS / "nyc.yaml").source_columns())
    (status,) = [m for m in report.misses if m.field == "status"]
    assert status.on_miss == "quarantine"
    assert status.count == 186 and status.examples == [("In Progress", 185), ("Started", 1)]
    assert not report.ok and "status: 186 row(s)" in report.problems[0]
    text = report.describe()
    assert "'In Progress' (185)" in text and "verdict: 1 problem(s)" in text
    assert report.would_quarantine["unmapped_status"] == 186

    clean = validate_mapping(load_mapping(MAPPINGS / "nyc.yaml"), sample)
    assert clean.ok and clean.misses == [] and clean.unparsed == []
    assert clean.would_quarantine == {"closed_before_created": 2}


def test_validate_mapping_reports_unparsed_datetimes(tmp_path: Path) -> None:
    export = write_nyc(
        tmp_path / "dates.csv",
        [nyc_row("1"), nyc_row("2", **{"Created Date": "2023-02-28 23:00"}), nyc_row("3", **{"Closed Date": "soon"})],
    )
    report = validate_mapping(load_mapping(MAPPINGS / "nyc.yaml"), export)
    unparsed = {i.field: i.examples for i in report.unparsed}
    assert unparsed == {"created_at": [("2023-02-28 23:00", 1)], "closed_at": [("soon", 1)]}
    assert report.would_quarantine == {"unparsed_created_at": 1, "unparsed_closed_at": 1}
    assert not report.ok


def test_cli_validate_mapping_exit_codes(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(samples_dir() / NYC_SAMPLE)
    assert main(["validate-mapping", "--mapping", str(MAPPINGS / "nyc.yaml"), sample]) == 0
    assert "verdict: ok" in capsys.readouterr().out
    assert main(["validate-mapping", "--mapping", str(_incomplete_status_map(tmp_path)), sample]) == 1
    assert "'In Progress' (185)" in capsys.readouterr().out
    doc = nyc_mapping_doc()
    doc["fields"]["status"] = {"colum": "Status"}
    bad = write_mapping(tmp_path / "bad.yaml", doc)
    assert main(["validate-mapping", "--mapping", str(bad), sample]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cirm: error: {bad}: field 'status': unknown key 'colum'") and "Traceback" not in err


def test_the_readme_onboarding_mapping_is_valid(tmp_path: Path) -> None:
    """The mapping written from scratch in README "Onboard your city" loads as shown."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("2. **Write the mapping**")[1].split("```yaml")[1].split("```")[0]
    path = tmp_path / "springfield.yaml"
    path.write_text("\n".join(line.removeprefix("   ") for line in block.splitlines()), encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.source_system == "springfield"
    assert {"Case Number", "Opened", "Ward", "Type"} <= set(mapping.source_columns())
