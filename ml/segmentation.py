"""Citizen segmentation: k-means per kind on consenting citizens, k chosen for stability and silhouette.

Residents and businesses behave differently and are segmented separately, each scaled against its
own population. Citizens without `consent_analytics` are dropped before anything is computed: they
get no segment row and do not influence scaling, k or centroids. Consenting citizens who never
contacted the city get segment 0 ("no contact yet"): there is no behaviour to cluster.

Choosing k (bootstrap stability over the k range) costs most of the run and changes slowly, so a
prior run's choice younger than `selection_days` is reused: today's citizens are still fitted and
segmented, only the evaluation of the k range is skipped and its figures are the prior's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ml import charts
from ml.artifacts import reusable_prior, reuse_label
from ml.citizen_features import build_citizen_features
from ml.cluster_selection import (
    K_RANGE,
    MIN_SEGMENT_SHARE,
    MIN_STABILITY,
    N_BOOTSTRAP,
    SELECTION_SAMPLE,
    SILHOUETTE_SAMPLE,
    bootstrap_stability,
    fit_kmeans,
    select_k,
    supported_ks,
)
from ml.metrics import silhouette_on_sample
from ml.segment_naming import name_segments, profile_zscores
from ml.versioning import code_version, fingerprint, utc_now

MODEL_NAME = "citizen_segments"
MIN_CITIZENS = 20  # below this a kind is one segment: there is nothing stable to split
# Consenting citizens without any contact have no behaviour to cluster on; they get this segment
# (id 0) instead of being pulled into, or forming, a k-means cluster of all-zero channel mixes.
NO_CONTACT_ID, NO_CONTACT_NAME = 0, "no contact yet"

SEGMENT_COLUMNS = ["citizen_id", "kind", "segment_id", "segment_name", "model_version", "scored_at"]
# What a kind's summary keeps from the run that chose its k, when a later run reuses that choice.
SELECTION_FIGURES = ("k", "silhouette", "stability", "stability_target_met", "candidates")


@dataclass
class KindModel:
    """Everything needed to score a citizen of one kind again: imputation, scaling, weights, centroids."""

    columns: list[str]
    impute: dict[str, float]
    scaler: StandardScaler
    center: np.ndarray  # clustering space = (features - center) * scale
    scale: np.ndarray
    kmeans: KMeans | None  # None when the kind is a single segment
    segment_of_cluster: np.ndarray  # k-means cluster index -> published segment_id
    names: dict[int, str]

    def assign(self, transformed: pd.DataFrame) -> np.ndarray:
        """Segment ids for citizens of this kind, from `build_citizen_features(...).transformed`."""
        values = transformed.reindex(columns=self.columns).fillna(self.impute).fillna(0.0).to_numpy(dtype=float)
        if self.kmeans is None:
            return np.ones(len(values), dtype=np.int64)
        return self.segment_of_cluster[self.kmeans.predict((values - self.center) * self.scale)]


@dataclass
class SegmentationResult:
    segments: pd.DataFrame  # citizen_segments
    profiles: pd.DataFrame  # segment_profiles
    metadata: dict[str, Any]
    chart_png: bytes | None  # None where matplotlib is not installed
    chart_markdown: str
    model: dict[str, KindModel] = field(default_factory=dict)


# Total weight of each feature group in distances, counted in standardized features. Channel mix
# (how a citizen reaches the city) is the main behavioural axis of a CiRM, then what they ask about;
# every other feature counts once. Shares inside a group keep their natural scale, so a rare channel
# or category is not blown up to unit variance the way per-column standardization would.
BLOCK_WEIGHTS = {"channels": 4.0, "categories": 2.0}


def _space_scale(values: np.ndarray, columns: list[str], blocks: dict[str, list[str]]) -> np.ndarray:
    """Per-column multipliers that turn centred features into the clustering space."""
    std = values.std(axis=0)
    scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
    position = {c: i for i, c in enumerate(columns)}
    for block, weight in BLOCK_WEIGHTS.items():
        idx = [position[c] for c in blocks.get(block, []) if c in position]
        total = float(values[:, idx].var(axis=0).sum()) if idx else 0.0
        if total > 0:
            scale[idx] = np.sqrt(weight / total)
    return scale


def _selectable_ks(n: int, k_range: range) -> list[int]:
    """The k's a kind of n active citizens may be split into: those its selection sample supports."""
    return supported_ks(min(n, SELECTION_SAMPLE), k_range) if n >= MIN_CITIZENS else []


def _segment_kind(
    raw: pd.DataFrame,
    transformed: pd.DataFrame,
    blocks: dict[str, list[str]],
    category_labels: dict[str, str],
    *,
    seed: int,
    k_range: range,
    n_bootstrap: int,
    prior: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any], KindModel, pd.DataFrame]:
    """Segment one kind; returns (segment_id per citizen, profiles, summary, model, z-scores).

    With `prior` (a prior run's summary of this kind, see SELECTION_FIGURES) its k is used instead of
    selecting one, and its selection figures are carried over.
    """
    columns = list(transformed.columns)
    # Median satisfaction of the kind for citizens who never rated: neutral for the distances.
    impute = {"avg_satisfaction": float(np.nan_to_num(transformed["avg_satisfaction"].median(), nan=0.0))}
    transformed = transformed.fillna(impute).fillna(0.0)
    raw = raw.fillna(impute).fillna(0.0)
    values = transformed.to_numpy(dtype=float)
    scaler = StandardScaler().fit(values)  # z-scores describe segments; the space below clusters them
    standardized = scaler.transform(values)
    center, scale = values.mean(axis=0), _space_scale(values, columns, blocks)
    space = (values - center) * scale
    n = len(space)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, SELECTION_SAMPLE, replace=False)) if n > SELECTION_SAMPLE else np.arange(n)

    summary: dict[str, Any] = {"n_citizens": int(n)}
    kmeans, stability = None, None
    if not _selectable_ks(n, k_range):
        clusters, k = np.zeros(n, dtype=np.int64), 1
        stability = np.array([1.0])
        summary.update(silhouette=None, stability_target_met=False, candidates=[], note="too few citizens to split")
    else:
        if prior:
            # The same fit select_k makes of a candidate k, so a reused k gives the segments that
            # selecting it again today would give; only the evaluation of the k range is skipped.
            k = int(prior["k"])
            centers = fit_kmeans(space[sample], k, seed).cluster_centers_
        else:
            choice, qualified, candidates = select_k(space[sample], seed=seed, k_range=k_range, n_bootstrap=n_bootstrap)
            k, centers = choice.k, choice.centers
        # The final fit starts from the centroids chosen on the sample, so the published clusters are
        # the ones whose stability was measured; it then settles on every citizen of the kind.
        kmeans = KMeans(n_clusters=k, init=centers, n_init=1, random_state=seed).fit(space)
        clusters = kmeans.labels_
        if prior:
            summary.update({key: prior[key] for key in SELECTION_FIGURES})
        else:
            stability = bootstrap_stability(
                space[sample], kmeans.predict(space[sample]), k, seed=seed, n_bootstrap=n_bootstrap
            )
            summary.update(
                silhouette=round(silhouette_on_sample(space, clusters, sample_size=SILHOUETTE_SAMPLE, seed=seed), 4),
                stability_target_met=bool(qualified and np.nanmin(stability) >= MIN_STABILITY),
                candidates=[c.summary() for c in candidates],
            )

    # Segment ids follow size (1 = largest) so they read the same way on every run.
    sizes = np.bincount(clusters, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    segment_of_cluster = np.empty(k, dtype=np.int64)
    segment_of_cluster[order] = np.arange(1, k + 1)
    segment_ids = segment_of_cluster[clusters]

    zscores = profile_zscores(standardized, segment_ids - 1, k, columns)
    names = name_segments(zscores, category_labels) if k > 1 else ["all citizens"]
    means = raw.groupby(segment_ids).mean().reindex(range(1, k + 1))
    profiles = pd.concat(
        [
            pd.DataFrame(
                {"segment_id": np.arange(1, k + 1), "segment_name": names, "size": np.bincount(segment_ids)[1:]}
            ),
            means.reset_index(drop=True),
        ],
        axis=1,
    )
    if stability is not None:
        summary["stability"] = {int(s + 1): round(float(v), 4) for s, v in enumerate(stability[order])}
    summary.update(
        k=int(k),
        sizes={int(s): int(c) for s, c in zip(profiles["segment_id"], profiles["size"], strict=True)},
        names=dict(zip(profiles["segment_id"].astype(int), names, strict=True)),
    )
    model = KindModel(
        columns=columns,
        impute=impute,
        scaler=scaler,
        center=center,
        scale=scale,
        kmeans=kmeans,
        segment_of_cluster=segment_of_cluster,
        names=summary["names"],
    )
    zscores.index = [f"{i}: {name}" for i, name in zip(range(1, k + 1), names, strict=True)]
    return segment_ids, profiles, summary, model, zscores


def segment_citizens(
    citizen_360: pd.DataFrame,
    *,
    seed: int = 42,
    scored_at: datetime | None = None,
    k_range: range = K_RANGE,
    n_bootstrap: int = N_BOOTSTRAP,
    n_threads: int | None = 1,
    prior: Mapping[str, Any] | None = None,
    selection_days: int = 0,
    clock: Callable[[], datetime] = utc_now,
) -> SegmentationResult:
    """Segment consenting citizens of `mart_citizen_360`, residents and businesses separately.

    Deterministic for a seed. `model_version` hashes the consenting citizens' features, the
    parameters, the code version and the k of each kind, so the same inputs give the same version.
    `n_threads` caps OpenMP threads in k-means (one by default: spinning threads crawl on a busy
    two-core machine).

    `prior` is a previous result's metadata (as saved with its artefact). Its k per kind is reused,
    without selecting again, when its selection is fewer than `selection_days` calendar days old by
    `clock` (0: always select), its parameters and code version are today's, it has the same kinds,
    and its k still fits each kind today. `metadata["selection"]` says which happened.
    """
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return _segment_citizens(citizen_360, seed, scored_at, k_range, n_bootstrap, prior, selection_days, clock())


def _prior_selection(
    prior: Mapping[str, Any] | None,
    params: dict[str, Any],
    n_active: dict[str, int],
    k_range: range,
    now: datetime,
    max_age_days: int,
) -> dict[str, dict[str, Any]] | None:
    """Each kind's summary in `prior` when its choice of k may be reused today (see segment_citizens), else None."""
    expect = {"params": params, "code_version": code_version()}
    usable = reusable_prior(prior, stamp="selected_at", now=now, max_age_days=max_age_days, expect=expect)
    kinds = usable.get("kinds") if usable else None
    if not isinstance(kinds, dict) or sorted(kinds) != sorted(n_active):
        return None
    for kind, n in n_active.items():
        ks, summary = _selectable_ks(n, k_range), kinds[kind]
        # A kind too small to split today needs no k; any other needs a prior k that still fits it.
        if ks and not (isinstance(summary, dict) and set(SELECTION_FIGURES) <= set(summary) and summary["k"] in ks):
            return None
    return kinds


def _segment_citizens(
    citizen_360: pd.DataFrame,
    seed: int,
    scored_at: datetime | None,
    k_range: range,
    n_bootstrap: int,
    prior: Mapping[str, Any] | None,
    selection_days: int,
    now: datetime,
) -> SegmentationResult:
    scored_at = scored_at or now
    consent = citizen_360["consent_analytics"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    # k-means depends on the order of its rows, and a table scan's order is not defined: the same
    # citizens read in another order gave other segments (found by tests/test_fault_injection.py).
    consenting = citizen_360.loc[consent].sort_values("citizen_id", kind="stable").reset_index(drop=True)
    features = build_citizen_features(consenting)
    params = {"seed": seed, "k_range": [k_range.start, k_range.stop], "n_bootstrap": n_bootstrap}
    all_params = {
        **params,
        "min_stability": MIN_STABILITY,
        "min_segment_share": MIN_SEGMENT_SHARE,
        "selection_sample": SELECTION_SAMPLE,
        "block_weights": BLOCK_WEIGHTS,
    }

    kinds = consenting["kind"].astype("string")
    segment_ids = np.zeros(len(consenting), dtype=np.int64)
    names = pd.Series("", index=consenting.index, dtype="string")
    profiles, summaries, models, charts_md, zscore_tables = [], {}, {}, [], []
    active = (features.raw["contacts_total"] > 0).to_numpy()
    of_kinds = {kind: (kinds == kind).to_numpy(dtype=bool) for kind in sorted(kinds.dropna().unique())}
    reused = _prior_selection(
        prior,
        all_params,
        {kind: int((of_kind & active).sum()) for kind, of_kind in of_kinds.items()},
        k_range,
        now,
        selection_days,
    )
    for kind, of_kind in of_kinds.items():  # two kinds: one model each
        mask, silent = of_kind & active, of_kind & ~active
        kind_profiles = []
        summary: dict[str, Any] = {"k": 0}
        if mask.any():
            ids, profile, summary, model, zscores = _segment_kind(
                features.raw.loc[mask],
                features.transformed.loc[mask],
                features.blocks,
                features.category_labels,
                seed=seed,
                k_range=k_range,
                n_bootstrap=n_bootstrap,
                prior=reused[kind] if reused else None,
            )
            segment_ids[mask] = ids
            names[mask] = profile.set_index("segment_id")["segment_name"].reindex(ids).to_numpy()
            kind_profiles.append(profile)
            models[kind] = model
            zscore_tables.append(zscores.rename(index=lambda s, kind=kind: f"{kind} {s}"))
        if silent.any():
            segment_ids[silent] = NO_CONTACT_ID
            names[silent] = NO_CONTACT_NAME
            means = features.raw.loc[silent].mean().to_frame().T
            kind_profiles.insert(
                0,
                pd.concat(
                    [
                        pd.DataFrame(
                            {
                                "segment_id": [NO_CONTACT_ID],
                                "segment_name": [NO_CONTACT_NAME],
                                "size": [int(silent.sum())],
                            }
                        ),
                        means,
                    ],
                    axis=1,
                ),  # fmt: skip
            )
        summary["no_contact_citizens"] = int(silent.sum())
        profile = pd.concat(kind_profiles, ignore_index=True)
        profiles.append(profile.assign(kind=kind))
        summaries[kind] = summary
        if mask.any():
            charts_md.append(_profile_markdown(kind, profile.loc[profile["segment_id"] != NO_CONTACT_ID], zscores))

    chosen_k = {kind: summary["k"] for kind, summary in summaries.items()}
    model_version = fingerprint(
        consenting["citizen_id"].astype("string"), features.raw, params, code_version(), chosen_k
    )
    if reused:
        selection = {"selected_at": prior["selected_at"], "selected_in": prior.get("selected_in")}
        label = reuse_label(selection["selected_at"], selection["selected_in"])
    else:
        selection, label = {"selected_at": pd.Timestamp(now).isoformat(), "selected_in": model_version}, "selected"
    segments = pd.DataFrame(
        {
            "citizen_id": consenting["citizen_id"],
            "kind": kinds,
            "segment_id": segment_ids,
            "segment_name": names,
            "model_version": model_version,
            "scored_at": pd.Timestamp(scored_at),
        }
    )
    segments = segments.loc[kinds.notna().to_numpy()].reset_index(drop=True)
    profile_frame = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    if not profile_frame.empty:
        profile_frame = profile_frame[["kind", *[c for c in profile_frame.columns if c != "kind"]]]
    chart_markdown = "\n\n".join(charts_md)
    metadata = {
        "model_version": model_version,
        "code_version": code_version(),
        "scored_at": pd.Timestamp(scored_at).isoformat(),
        # How each kind's k was chosen; its figures in "kinds" (SELECTION_FIGURES) are from that run.
        "selection": label,
        **selection,
        "params": all_params,
        "citizens_total": int(len(citizen_360)),
        "citizens_segmented": int(len(segments)),
        "citizens_without_consent": int((~consent).sum()),
        "features": list(features.transformed.columns),
        "kinds": summaries,
        "profile_table_markdown": chart_markdown,
    }
    zscores_all = pd.concat(zscore_tables) if zscore_tables else pd.DataFrame()
    chart_png = charts.profile_heatmap_png(zscores_all, "Segment profiles (z-score of segment mean vs kind)")
    return SegmentationResult(segments, profile_frame, metadata, chart_png, chart_markdown, models)


def _profile_markdown(kind: str, profile: pd.DataFrame, zscores: pd.DataFrame) -> str:
    """Per segment: size, a few readable means and the three traits that stand out most."""
    top = zscores.abs().to_numpy().argsort(axis=1)[:, ::-1][:, :3]
    values = zscores.to_numpy()
    cols = np.array(zscores.columns)
    traits = [
        ", ".join(f"{cols[j]} {values[i, j]:+.1f}" for j in row)
        for i, row in enumerate(top)  # k rows, at most 8
    ]
    table = pd.DataFrame(
        {
            "segment": profile["segment_id"].astype(int),
            "name": profile["segment_name"],
            "size": profile["size"].astype(int),
            "contacts": profile["contacts_total"],
            "complaint share": profile["complaint_share"],
            "digital share": profile["digital_share"],
            "satisfaction": profile["avg_satisfaction"],
            "recency days": profile["recency_days"],
            "stands out (z)": traits,
        }
    )
    return f"**{kind}**\n\n" + charts.markdown_table(table)


def evaluate_against_truth(
    segments_df: pd.DataFrame, truth_df: pd.DataFrame, truth_column: str | None = None
) -> dict[str, Any]:
    """Adjusted Rand index of published segments against known (planted) groups, per kind and overall.

    `truth_df` has citizen_id and one group column (named by `truth_column`, or the only column besides
    citizen_id and kind). Only citizens present in both frames count. Overall ARI labels a segment by
    (kind, segment_id), so the same segment number in two kinds is two segments.
    """
    if truth_column is None:
        others = [c for c in truth_df.columns if c not in ("citizen_id", "kind")]
        if len(others) != 1:
            raise ValueError(f"name the truth column: candidates {others}")
        truth_column = others[0]
    joined = segments_df[["citizen_id", "kind", "segment_id"]].merge(
        truth_df[["citizen_id", truth_column]], on="citizen_id", how="inner"
    )
    predicted = joined["kind"].astype("string") + ":" + joined["segment_id"].astype("string")
    truth = joined[truth_column].astype("string")
    by_kind = {
        str(kind): float(adjusted_rand_score(truth[idx], predicted[idx]))
        for kind, idx in joined.groupby("kind").groups.items()
    }
    return {
        "ari_overall": float(adjusted_rand_score(truth, predicted)) if len(joined) else float("nan"),
        "ari_by_kind": by_kind,
        "n_citizens": int(len(joined)),
    }
