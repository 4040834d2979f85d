"""Every runtime setting, read from the environment in one place.

The README documents each variable; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cirm.errors import CirmError

# Published in the README so the demo works out of the box; `cirm` refuses it outside demo mode
# because anyone can recompute pseudonyms made with a known key.
DEV_PSEUDONYM_SECRET = "cirm-dev-secret-not-for-production"
# Written into a data folder by `cirm simulate` / `cirm demo`: its people are simulated, so the
# published development key may pseudonymize them.
DEMO_MARKER = ".cirm-demo"


class SettingsError(CirmError, ValueError):
    """A setting has a value the pipeline cannot work with."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # None means "no case-management source" (CIRM_SOURCE_URL=none): open-data-only mode.
    source_url: str | None
    _pseudonym_secret: str
    city_timezone: str
    holiday_country: str
    # No event of the city's history lies before this date; earlier timestamps are impossible.
    data_start: date
    _open311_config: Path | None = None
    # CIRM_DEMO_MODE=true, or a data folder holding a simulated city (DEMO_MARKER).
    demo_mode: bool = False
    # CIRM_ERASE_IN_SOURCE: `cirm erase` also deletes the citizen from the case-management source.
    erase_in_source: bool = False
    _postgres_warehouse_url: str | None = None
    # CIRM_MODEL_SELECTION_DAYS: how long the mining assets reuse a choice of k and a backtest (0: never).
    model_selection_days: int = 7

    @property
    def pseudonym_secret(self) -> str:
        """The HMAC key for pseudonyms; the published development key only for simulated data."""
        if self._pseudonym_secret == DEV_PSEUDONYM_SECRET and not self.demo_mode:
            raise SettingsError(
                "CIRM_PSEUDONYM_SECRET is not set, and the development key it falls back to is public: "
                f"pseudonyms made with it can be recomputed by anyone. Set CIRM_PSEUDONYM_SECRET to a secret "
                f"of your own (for example `export CIRM_PSEUDONYM_SECRET=$(openssl rand -hex 32)`), or, for "
                f"simulated data only, set CIRM_DEMO_MODE=true (data folder {self.data_dir} is not a demo city)."
            )
        return self._pseudonym_secret

    @property
    def operational_db(self) -> Path:
        return self.data_dir / "operational.db"

    @property
    def drops_dir(self) -> Path:
        return self.data_dir / "drops"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def truth_dir(self) -> Path:
        return self.data_dir / "truth"

    @property
    def quality_docs_dir(self) -> Path:
        return self.data_dir / "quality_docs"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def serving_path(self) -> Path:
        return self.data_dir / "serving.duckdb"

    @property
    def report_dir(self) -> Path:
        return self.data_dir / "report"

    @property
    def column_metadata_dir(self) -> Path:
        """dbt models' column schema and lineage, cached by what they are computed from."""
        return self.data_dir / "dbt_column_metadata"

    @property
    def open311_config(self) -> Path:
        """Which open-data exports to import (see open311/cities.py); absent means none."""
        return self._open311_config or self.data_dir / "open311.yaml"

    @property
    def postgres_warehouse_url(self) -> str | None:
        """CIRM_POSTGRES_WAREHOUSE_URL: where `cirm publish-postgres` publishes; None when unset."""
        return self._postgres_warehouse_url

    @property
    def source_kind(self) -> str:
        if self.source_url is None:
            return "none"
        return "postgresql" if self.source_url.startswith("postgresql") else "sqlite"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.drops_dir, self.truth_dir):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("CIRM_DATA_DIR", "data")).expanduser().resolve()
    raw_url = env.get("CIRM_SOURCE_URL", "").strip()
    if raw_url.lower() == "none":
        source_url: str | None = None
    elif not raw_url:
        source_url = f"sqlite:///{data_dir / 'operational.db'}"
    elif raw_url.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgres://")):
        source_url = raw_url.replace("postgres://", "postgresql://", 1)
    else:
        raise SettingsError(
            f"CIRM_SOURCE_URL={raw_url!r} is not supported: use sqlite:///PATH, postgresql://USER@HOST:PORT/DB, or none"
        )
    return Settings(
        data_dir=data_dir,
        source_url=source_url,
        _pseudonym_secret=env.get("CIRM_PSEUDONYM_SECRET") or DEV_PSEUDONYM_SECRET,
        city_timezone=env.get("CIRM_CITY_TIMEZONE", "America/New_York"),
        holiday_country=env.get("CIRM_HOLIDAY_COUNTRY", "US"),
        data_start=_date_setting(env, "CIRM_DATA_START", "2000-01-01"),
        _open311_config=_path_setting(env, "CIRM_OPEN311_CONFIG"),
        demo_mode=env_flag(env, "CIRM_DEMO_MODE") or (data_dir / DEMO_MARKER).exists(),
        erase_in_source=env_flag(env, "CIRM_ERASE_IN_SOURCE"),
        _postgres_warehouse_url=_postgres_url_setting(env, "CIRM_POSTGRES_WAREHOUSE_URL"),
        model_selection_days=_days_setting(env, "CIRM_MODEL_SELECTION_DAYS", 7),
    )


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no variable (unset means no); anything else is a settings error, not a guess."""
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={env[name]!r} is not a yes/no value: use true or false")


def _path_setting(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def _postgres_url_setting(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SettingsError(f"{name}={redact_url(value)!r} is not supported: use postgresql://USER@HOST:PORT/DB")
    return value.replace("postgres://", "postgresql://", 1)


def _date_setting(env: Mapping[str, str], name: str, default: str) -> date:
    value = env.get(name, default)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SettingsError(f"{name}={value!r} is not a date in YYYY-MM-DD form") from exc


def _days_setting(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):  # no sign, no fraction: 0 or more whole days
        raise SettingsError(f"{name}={env[name]!r} is not a number of days: use a whole number, 0 or more")
    return int(value)


def redact_url(url: str | None) -> str:
    """A source URL fit for logs and metadata: the password never leaves the environment."""
    if url is None:
        return "none"
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
    return url
