"""Which open-data cities the pipeline imports: a YAML file (CIRM_OPEN311_CONFIG, default
`<data>/open311.yaml`) naming, per import, its mapping and its export files.

    imports:
      nyc:
        mapping: mappings/nyc.yaml
        files: [/srv/exports/nyc/*.csv]
      la_2020:
        mapping: mappings/la_2020.yaml
        files: [/srv/exports/la/myla311_2020-*.csv]

Each name becomes the Dagster asset `open311/<name>`. Relative paths are resolved from the
config file's folder, then from the project root (where `mappings/` ships), so the shipped mappings
work from any data folder. File patterns are globs; a pattern that matches nothing is reported by
the import, not here, since exports may arrive after the definitions load.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cirm.errors import CirmError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CitiesConfigError(CirmError):
    """The open-data import config cannot be used as written."""


@dataclass(frozen=True)
class CityImport:
    name: str
    mapping: Path
    patterns: tuple[str, ...]

    def files(self) -> list[Path]:
        """The export files the patterns match now, in name order."""
        found = {Path(p) for pattern in self.patterns for p in glob.glob(pattern)}
        return sorted(p for p in found if p.is_file())


def _resolve(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    for root in (base, PROJECT_ROOT):
        if (root / path).exists() or glob.glob(str(root / path)):
            return str(root / path)
    return str(base / path)


def load_cities(path: Path) -> list[CityImport]:
    """The configured imports; none when the file does not exist (no open data configured)."""
    if not path.exists():
        return []
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CitiesConfigError(f"{path}: not valid YAML: {exc}") from exc
    imports = (doc or {}).get("imports") if isinstance(doc, dict) else None
    if not isinstance(imports, dict):
        raise CitiesConfigError(f"{path}: expected a mapping 'imports:' of name → {{mapping, files}}")
    cities = []
    for name, spec in imports.items():
        where = f"{path}: imports.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise CitiesConfigError(f"{where}: a name is lower case letters, digits and _ (it names an asset)")
        if not isinstance(spec, dict) or set(spec) - {"mapping", "files"} or "mapping" not in spec:
            raise CitiesConfigError(f"{where}: expected keys 'mapping' and 'files', got {spec!r}")
        files = spec.get("files") or []
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files) or not files:
            raise CitiesConfigError(f"{where}.files: expected a list of file paths or glob patterns")
        mapping = Path(_resolve(str(spec["mapping"]), path.parent))
        if not mapping.is_file():
            raise CitiesConfigError(f"{where}.mapping: no mapping file at {mapping}")
        cities.append(CityImport(name, mapping, tuple(_resolve(f, path.parent) for f in files)))
    return cities
