"""Public holidays for the city's country, from the `holidays` package (no download at run time)."""

from __future__ import annotations

import duckdb
import holidays
import pyarrow as pa

from cirm.errors import CirmError
from ingest.warehouse import fetch_one, utc_now

# Wide enough for any history a city loads and a few years of forecasts ahead.
FIRST_YEAR, LAST_YEAR = 2000, 2040


def load_public_holidays(con: duckdb.DuckDBPyConnection, country: str, load_id: str) -> int:
    """Replace `raw.public_holidays` with the country's calendar; returns its row count.

    A rewrite only happens when the calendar changed, so unchanged runs leave the table as it was.
    """
    try:
        calendar = holidays.country_holidays(country, years=range(FIRST_YEAR, LAST_YEAR + 1))
    except NotImplementedError as exc:
        raise CirmError(f"CIRM_HOLIDAY_COUNTRY={country!r} is not a country the holidays package knows") from exc
    days = sorted(calendar.items())
    table = pa.table(
        {
            "holiday_date": pa.array([d for d, _ in days], pa.date32()),
            "name": pa.array([n for _, n in days], pa.string()),
            "country": pa.array([country] * len(days), pa.string()),
        }
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS raw.public_holidays (holiday_date DATE, name VARCHAR, country VARCHAR, "
            "_load_id VARCHAR, _loaded_at TIMESTAMP, _source VARCHAR)"
        )
        con.register("calendar_rows", table)
        same = fetch_one(
            con,
            "SELECT count(*) = 0 FROM ((SELECT holiday_date, name, country FROM raw.public_holidays "
            "EXCEPT ALL SELECT * FROM calendar_rows) UNION ALL (SELECT * FROM calendar_rows "
            "EXCEPT ALL SELECT holiday_date, name, country FROM raw.public_holidays))",
        )[0]
        if not same:
            con.execute("DELETE FROM raw.public_holidays")
            con.execute(
                "INSERT INTO raw.public_holidays SELECT *, ?, ?, 'holidays-package' FROM calendar_rows",
                [load_id, utc_now()],
            )
        con.unregister("calendar_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return table.num_rows
