"""Open-data 311 exports (NYC Open Data, LA MyLA311, ...) into `raw.open311_requests`.

A plain library (no Dagster): a YAML mapping per export shape (`mappings/`), an importer that
stages and judges each file in DuckDB and loads it exactly once, and a validator that reports how
a mapping fits a file. `cirm import-open311` and `cirm validate-mapping` are the command line.
"""

from open311.importer import ImportSummary, Open311FileError, import_files
from open311.mapping import Mapping, MappingError, load_mapping
from open311.validate import ValidationReport, validate_mapping

__all__ = [
    "ImportSummary",
    "Mapping",
    "MappingError",
    "Open311FileError",
    "ValidationReport",
    "import_files",
    "load_mapping",
    "validate_mapping",
]
