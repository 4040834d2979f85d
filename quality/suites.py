"""The suites, defined in code: for each asset, its checks and the expectations behind each check.

A check is what Dagster shows (one asset check each); its expectations run in GE against one frame
of the asset: `rows` (the table's needed columns), `volume` (daily counts per channel), `drift`
(satisfaction statistics), `accounting` (raw vs staged + quarantined counts) or `quarantine_share`
(the share of the latest load that staging quarantined).

Blocking means a failure would poison what follows: missing columns, null or duplicate keys,
systemic impossible timestamps, rows lost between layers, a load mostly quarantined. Everything else warns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from quality.accounting import ACCOUNTING_ASSETS, QUARANTINE_SHARE_COLUMN
from quality.config import QualityConfig
from quality.drift import STATISTIC_COLUMN
from quality.specs import AssetKey, CheckDef, CheckSpec, Expect, Param, TableSpec
from quality.tables import TABLES
from quality.volume import DEVIATION_COLUMN


@dataclass(frozen=True)
class AssetSuite:
    asset: AssetKey
    checks: tuple[CheckDef, ...]
    table: TableSpec | None = None  # None for accounting-only assets

    def frames(self) -> list[str]:
        return list(dict.fromkeys(c.frame for c in self.checks))


def _check(
    asset: AssetKey, name: str, blocking: bool, description: str, expectations: Iterable[Expect], frame: str = "rows"
) -> CheckDef:
    return CheckDef(CheckSpec(asset, name, blocking, description), frame, tuple(expectations))


def _not_null(column: str, mostly: float | None = None) -> Expect:
    kwargs = {"column": column} if mostly is None else {"column": column, "mostly": mostly}
    return Expect("ExpectColumnValuesToNotBeNull", kwargs)


def _in_range(column: str, lo: object, hi: object, mostly: float | None = None) -> Expect:
    kwargs: dict[str, object] = {"column": column, "min_value": lo, "max_value": hi}
    if mostly is not None:
        kwargs["mostly"] = mostly
    return Expect("ExpectColumnValuesToBeBetween", kwargs)


def _grouped(items: Iterable, attr: str = "check") -> dict[str, list]:
    out: dict[str, list] = {}
    for item in items:
        out.setdefault(getattr(item, attr), []).append(item)
    return out


def _timestamp_bounds(t: TableSpec, column: str, mostly: float | None) -> Expect:
    start = Param("data_start") if column in t.start_bounded else None
    return _in_range(column, start, Param("now"), mostly)


def table_checks(t: TableSpec, cfg: QualityConfig) -> list[CheckDef]:
    a = t.asset
    key = ", ".join(t.key)
    # Raw rows that break a row-level rule are quarantined by staging, so on the raw layer such
    # checks warn and staging runs; past staging they block, because they would poison what follows.
    # Case-system raw tables are merged on their key, so a key fault there is ingestion broken: block.
    as_delivered = a[0] == "raw" and bool(t.text_timestamps or t.text_numbers)
    key_blocking = not as_delivered
    scale_blocking = a[0] != "raw"
    checks = [
        _check(
            a,
            "required_columns_exist",
            True,
            f"Columns {', '.join(t.expected_columns)} exist: downstream models select them by name.",
            (Expect("ExpectColumnToExist", {"column": c}) for c in t.expected_columns),
        ),
        _check(a, "primary_key_not_null", key_blocking, f"Key ({key}) is never null.", (_not_null(c) for c in t.key)),
        _check(
            a,
            "primary_key_unique",
            key_blocking,
            f"Key ({key}) is unique: duplicates multiply every join downstream.",
            [
                Expect("ExpectColumnValuesToBeUnique", {"column": t.key[0]})
                if len(t.key) == 1
                else Expect("ExpectCompoundColumnsToBeUnique", {"column_list": list(t.key)})
            ],
        ),
    ]
    required = [c for c in t.required if c not in t.key]
    if required:
        checks.append(
            _check(
                a,
                "required_fields_not_null",
                False,
                f"Required fields {', '.join(required)} are filled (rows without them are quarantined).",
                (_not_null(c) for c in required),
            )
        )
    if t.text_timestamps:
        cols = list(t.text_timestamps)
        checks.append(
            _check(
                a,
                "timestamps_parseable",
                False,
                f"Text timestamps {', '.join(cols)} parse as staging parses them.",
                (Expect("ExpectColumnValuesToBeInSet", {"column": f"{c}__ok", "value_set": [True]}) for c in cols),
            )
        )
    if t.text_numbers:
        checks.append(
            _check(
                a,
                "numbers_parseable",
                False,
                f"Text numbers {', '.join(t.text_numbers)} parse as numbers.",
                (
                    Expect("ExpectColumnValuesToBeInSet", {"column": f"{c}__ok", "value_set": [True]})
                    for c in t.text_numbers
                ),
            )
        )
    if t.timestamps:
        bounded = ", ".join(t.start_bounded) or "none"
        checks += [
            _check(
                a,
                "timestamps_in_range",
                False,
                f"No timestamp ({', '.join(t.timestamps)}) lies in the future; "
                f"none of ({bounded}) precedes the data start.",
                (_timestamp_bounds(t, c, None) for c in t.timestamps),
            ),
            _check(
                a,
                "timestamps_in_range_at_scale",
                scale_blocking,
                f"At most {cfg.impossible_share_max:.0%} of any timestamp column is out of range: more is a "
                "systemic clock or time-zone fault that would shift every daily aggregate.",
                (_timestamp_bounds(t, c, 1 - cfg.impossible_share_max) for c in t.timestamps),
            ),
        ]
    for name, items in _grouped(t.orderings).items():
        pairs = ", ".join(f"{o.later} >= {o.earlier}" for o in items)
        checks.append(
            _check(
                a,
                name,
                False,
                f"Lifecycle order holds where both are set: {pairs}.",
                (
                    Expect(
                        "ExpectColumnPairValuesAToBeGreaterThanB",
                        {
                            "column_A": o.later,
                            "column_B": o.earlier,
                            "or_equal": True,
                            "ignore_row_if": "either_value_is_missing",
                        },
                    )
                    for o in items
                ),
            )
        )
    for name, items in _grouped(t.ranges).items():
        bounds = ", ".join(
            f"{r.column} in [{'-inf' if r.min_value is None else r.min_value}, "
            f"{'inf' if r.max_value is None else r.max_value}]"
            for r in items
        )
        checks.append(
            _check(
                a,
                name,
                False,
                f"Values in range: {bounds}.",
                (_in_range(r.column, r.min_value, r.max_value) for r in items),
            )
        )
    for name, items in _grouped(t.memberships).items():
        sources = ", ".join(
            f"{m.column} in {m.values_sql or 'the listed values'}"
            + (f" (at least {m.mostly:.0%})" if m.mostly is not None else "")
            for m in items
        )
        checks.append(
            _check(
                a,
                name,
                False,
                f"Every code is known: {sources}.",
                (
                    Expect(
                        "ExpectColumnValuesToBeInSet",
                        {"column": m.column, "value_set": m, **({"mostly": m.mostly} if m.mostly is not None else {})},
                    )
                    for m in items
                ),
            )
        )
    for name, items in _grouped(t.parents).items():
        refs = ", ".join(f"{p.column} in {p.parent_table}.{p.parent_column}" for p in items)
        checks.append(
            _check(
                a,
                name,
                False,
                f"Referenced rows exist: {refs} (late-arriving parents show up here first).",
                (
                    Expect("ExpectColumnValuesToBeInSet", {"column": f"{p.column}__exists", "value_set": [True]})
                    for p in items
                ),
            )
        )
    if t.null_share_max:
        shares = ", ".join(f"{c} <= {s:.0%}" for c, s in t.null_share_max.items())
        checks.append(
            _check(
                a,
                "null_share_within_threshold",
                False,
                f"Null share per column under its threshold: {shares}.",
                (_not_null(c, round(1 - s, 6)) for c, s in t.null_share_max.items()),
            )
        )
    if t.volume is not None:
        checks.append(
            _check(
                a,
                "daily_volume_within_band",
                False,
                f"The latest {cfg.volume_eval_days} complete day(s) of volume per channel lie within "
                f"max({cfg.volume_mad_k:g}*1.4826*MAD (small-sample corrected), {cfg.volume_mad_k:g}*sqrt(median), "
                f"{cfg.volume_relative_band:.0%} of median, "
                f"{cfg.volume_min_band:g}) "
                f"of the trailing {cfg.volume_window_days}-day median"
                + (" of the same weekday." if cfg.volume_weekday_aware else "."),
                [_in_range(DEVIATION_COLUMN, -1, 1)],
                frame="volume",
            )
        )
    if t.drift is not None:
        checks.append(
            _check(
                a,
                "satisfaction_distribution_stable",
                False,
                f"Score distribution of the latest {cfg.drift_recent_days} days is within total variation "
                f"distance {cfg.drift_tvd_max:g} of the {cfg.drift_reference_days} days before, or differs "
                f"from it by chance only (chi-square test, p >= {cfg.drift_significance:g}).",
                [_in_range(STATISTIC_COLUMN, 0, cfg.drift_tvd_max)],
                frame="drift",
            )
        )
    return checks


def accounting_checks(asset: AssetKey, cfg: QualityConfig | None = None) -> list[CheckDef]:
    cfg = cfg or QualityConfig()
    e = ACCOUNTING_ASSETS[asset]
    return [
        _check(
            asset,
            "raw_equals_staged_plus_quarantined",
            True,
            f"Every row of {e.raw} is in {e.staging} or {e.quarantine}: raw = staged + quarantined.",
            [
                Expect(
                    "ExpectColumnPairValuesToBeEqual",
                    {"column_A": "raw_rows", "column_B": "accounted_rows", "ignore_row_if": "both_values_are_missing"},
                )
            ],
            frame="accounting",
        ),
        _check(
            asset,
            "quarantine_share_within_limit",
            True,
            f"At most {cfg.quarantine_share_max:.0%} of the rows of the latest load of {e.raw} are quarantined "
            f"(judged from {cfg.quarantine_min_rows} quarantined rows): more is a systemic fault upstream "
            "(a source clock, a code list, a broken export), and the rest of that load would bias what follows.",
            [_in_range(QUARANTINE_SHARE_COLUMN, 0, cfg.quarantine_share_max)],
            frame="quarantine_share",
        ),
    ]


def suite_for(asset: AssetKey, cfg: QualityConfig | None = None) -> AssetSuite:
    cfg = cfg or QualityConfig()
    asset = tuple(asset)  # type: ignore[assignment]
    if asset in TABLES:
        return AssetSuite(asset, tuple(table_checks(TABLES[asset], cfg)), TABLES[asset])
    if asset in ACCOUNTING_ASSETS:
        return AssetSuite(asset, tuple(accounting_checks(asset, cfg)))
    raise KeyError(f"no quality suite for asset {'/'.join(asset)}; known: {', '.join('/'.join(a) for a in ASSETS)}")


ASSETS: tuple[AssetKey, ...] = (*TABLES, *ACCOUNTING_ASSETS)


def checks_for(asset: AssetKey, cfg: QualityConfig | None = None) -> list[CheckSpec]:
    """The checks of one asset: name (snake_case), blocking flag, description. No GE import."""
    return [c.spec for c in suite_for(asset, cfg).checks]
