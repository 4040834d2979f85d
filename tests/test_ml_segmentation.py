"""Citizen segmentation: consent rule, planted-group recovery, names, outputs."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from ml import segmentation
from ml.citizen_features import build_citizen_features, parse_category_mix
from ml.segmentation import SEGMENT_COLUMNS, SegmentationResult, evaluate_against_truth, segment_citizens
from ml.synthetic import make_citizen_360


@pytest.fixture(scope="module")
def citizens() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_citizen_360(n_residents=2400, n_businesses=700, seed=7)


@pytest.fixture(scope="module")
def result(citizens) -> SegmentationResult:
    frame, _ = citizens
    return segment_citizens(frame, seed=42, scored_at=pd.Timestamp("2025-07-01 06:00"))


def test_planted_groups_are_recovered(citizens, result: SegmentationResult) -> None:
    _, truth = citizens
    scores = evaluate_against_truth(result.segments, truth)
    assert scores["ari_overall"] >= 0.6, scores
    assert min(scores["ari_by_kind"].values()) >= 0.6, scores
    for kind, summary in result.metadata["kinds"].items():
        assert summary["silhouette"] >= 0.25, (kind, summary)
        assert min(summary["stability"].values()) >= 0.75, (kind, summary)
        assert summary["stability_target_met"]
    assert result.metadata["kinds"]["resident"]["k"] == 4
    assert result.metadata["kinds"]["business"]["k"] == 2


def test_citizens_without_consent_get_no_segment(citizens, result: SegmentationResult) -> None:
    frame, _ = citizens
    refused = set(frame.loc[~frame["consent_analytics"], "citizen_id"])
    assert refused and not refused & set(result.segments["citizen_id"])
    assert set(result.segments["citizen_id"]) == set(frame.loc[frame["consent_analytics"], "citizen_id"])
    assert result.metadata["citizens_without_consent"] == len(refused)


def test_non_consenting_citizens_do_not_influence_the_model(citizens, result: SegmentationResult) -> None:
    frame, _ = citizens
    # Scramble everything a non-consenting citizen has: the consenting citizens' segments stay the same.
    scrambled = frame.copy()
    refused = ~scrambled["consent_analytics"].to_numpy()
    scrambled.loc[refused, "contacts_total"] = 500
    scrambled.loc[refused, "contacts_hotline"] = 500
    scrambled.loc[refused, "complaint_share"] = 1.0
    scrambled.loc[refused, "category_mix"] = '{"Snow and Ice": 1.0}'
    again = segment_citizens(scrambled, seed=42, scored_at=pd.Timestamp("2025-07-01 06:00"))
    pd.testing.assert_frame_equal(again.segments, result.segments)


def test_outputs_have_the_contract_columns(result: SegmentationResult) -> None:
    assert list(result.segments.columns) == SEGMENT_COLUMNS
    assert result.segments["model_version"].nunique() == 1
    assert (result.segments["scored_at"] == pd.Timestamp("2025-07-01 06:00")).all()
    profiles = result.profiles
    assert list(profiles.columns[:4]) == ["kind", "segment_id", "segment_name", "size"]
    for feature in ["recency_days", "contacts_total", "complaint_share", "share_hotline", "digital_share",
                    "avg_satisfaction", "reopen_share", "category_noise_and_nuisance", "tenure_days"]:  # fmt: skip
        assert feature in profiles.columns
    counts = result.segments.groupby(["kind", "segment_id"]).size()
    assert counts.to_dict() == profiles.set_index(["kind", "segment_id"])["size"].to_dict()
    json.dumps(result.metadata)  # ready for Dagster metadata / metadata.json
    assert "| segment | name |" in result.chart_markdown


def test_segment_names_are_unique_within_kind_and_describe_profiles(result: SegmentationResult) -> None:
    for _, names in result.profiles.groupby("kind")["segment_name"]:
        assert names.is_unique
    residents = result.profiles.loc[result.profiles["kind"] == "resident"].set_index("segment_name")
    # The segment with the highest complaint share is named for it, the hotline-heaviest for the hotline.
    assert "complainers" in residents["complaint_share"].idxmax()
    assert "hotline" in residents["share_hotline"].idxmax()
    assert "app" in residents["share_app"].idxmax()


def test_segmentation_is_deterministic_for_a_seed(citizens, result: SegmentationResult) -> None:
    frame, _ = citizens
    again = segment_citizens(frame, seed=42, scored_at=pd.Timestamp("2025-07-01 06:00"))
    pd.testing.assert_frame_equal(again.segments, result.segments)
    pd.testing.assert_frame_equal(again.profiles, result.profiles)


def test_segments_do_not_depend_on_row_order(citizens, result: SegmentationResult) -> None:
    """A table scan returns rows in no defined order; the same citizens shuffled give the same model."""
    frame, _ = citizens
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert not shuffled["citizen_id"].equals(frame["citizen_id"])
    again = segment_citizens(shuffled, seed=42, scored_at=pd.Timestamp("2025-07-01 06:00"))
    key = ["citizen_id"]
    pd.testing.assert_frame_equal(
        again.segments.sort_values(key).reset_index(drop=True), result.segments.sort_values(key).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(again.profiles, result.profiles)


def test_evaluate_against_truth_per_kind_and_overall() -> None:
    segments = pd.DataFrame(
        {"citizen_id": list("abcdef"), "kind": ["resident"] * 4 + ["business"] * 2, "segment_id": [1, 1, 2, 2, 1, 1]}
    )
    truth = pd.DataFrame({"citizen_id": list("abcdefg"), "group": ["x", "x", "y", "y", "z", "z", "w"]})
    scores = evaluate_against_truth(segments, truth)
    assert scores == {"ari_overall": 1.0, "ari_by_kind": {"business": 1.0, "resident": 1.0}, "n_citizens": 6}
    swapped = truth.assign(group=["x", "y", "x", "y", "z", "z", "w"])
    assert evaluate_against_truth(segments, swapped)["ari_by_kind"]["resident"] == pytest.approx(-0.5)


def test_category_mix_json_becomes_share_columns() -> None:
    mix = pd.Series(['{"Roads and Sidewalks": 0.5, "Snow and Ice": 0.5}', None, "{}", '{"Snow and Ice": 2}'])
    shares, labels = parse_category_mix(mix)
    assert list(shares.columns) == ["category_roads_and_sidewalks", "category_snow_and_ice"]
    assert shares.to_numpy().tolist() == [[0.5, 0.5], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    assert labels["category_snow_and_ice"] == "Snow and Ice"


def test_category_shares_do_not_depend_on_the_json_key_order() -> None:
    # Arrow orders its columns by first appearance (and, threaded, by block): summing 0.1 + 0.2 + 0.3 in
    # another order differs in the last bit, which once changed model versions of unchanged data.
    one, _ = parse_category_mix(pd.Series(['{"a": 0.1, "b": 0.2, "c": 0.3}', '{"c": 0.5}']))
    other, _ = parse_category_mix(pd.Series(['{"c": 0.3, "b": 0.2, "a": 0.1}', '{"c": 0.5}']))
    pd.testing.assert_frame_equal(one, other, check_exact=True)


def test_channel_shares_and_log_transforms(citizens) -> None:
    frame, _ = citizens
    features = build_citizen_features(frame.head(50))
    shares = features.raw[[c for c in features.raw.columns if c.startswith("share_")]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    assert np.allclose(features.transformed["contacts_total"], np.log1p(frame.head(50)["contacts_total"]))


def test_a_kind_too_small_to_split_is_one_segment(citizens) -> None:
    frame, _ = citizens
    small = pd.concat(
        [frame.loc[frame["kind"] == "resident"].head(600), frame.loc[frame["kind"] == "business"].head(8)]
    )
    result = segment_citizens(small, seed=1, n_bootstrap=5)
    business = result.segments.loc[result.segments["kind"] == "business"]
    assert business["segment_id"].eq(1).all() and result.metadata["kinds"]["business"]["k"] == 1


def test_consenting_citizens_without_contacts_get_the_no_contact_segment(citizens) -> None:
    frame, _ = citizens
    small = frame.loc[frame["kind"] == "resident"].head(400).copy()
    silent = small.index[:10]
    counts = ["requests_total", "complaints_total"] + [c for c in small if c.startswith("contacts_")]
    small.loc[silent, counts] = 0
    small.loc[silent, ["recency_days", "complaint_share", "digital_share", "reopen_share", "category_mix"]] = None
    small.loc[silent, "consent_analytics"] = True
    result = segment_citizens(small, seed=1, n_bootstrap=5)
    segments = result.segments.set_index("citizen_id")
    assert (segments.loc[small.loc[silent, "citizen_id"], "segment_id"] == 0).all()
    assert (segments.loc[small.loc[silent, "citizen_id"], "segment_name"] == "no contact yet").all()
    assert (segments.drop(small.loc[silent, "citizen_id"])["segment_id"] > 0).all()
    assert result.metadata["kinds"]["resident"]["no_contact_citizens"] == 10


def test_the_saved_kind_model_reassigns_the_same_segments(citizens, result: SegmentationResult) -> None:
    frame, _ = citizens
    consenting = frame.loc[frame["consent_analytics"] & (frame["kind"] == "resident")]
    features = build_citizen_features(consenting)
    assigned = result.model["resident"].assign(features.transformed)
    published = result.segments.set_index("citizen_id").loc[consenting["citizen_id"], "segment_id"]
    assert (assigned == published.to_numpy()).all()


# --- reusing a prior run's choice of k --------------------------------------------------------------

SELECTED_AT = "2025-07-01T06:00:00"


class Selected(Exception):
    """Raised by the stand-in for select_k: this run chose k again."""


def _prior(result: SegmentationResult) -> dict:
    """`result`'s metadata the way the next run reads it from metadata.json, selected on SELECTED_AT."""
    return {**json.loads(json.dumps(result.metadata, default=str)), "selected_at": SELECTED_AT}


def _day(day: int):
    return lambda: datetime(2025, 7, day, 6)


def _segment_again(frame: pd.DataFrame, prior: dict, day: int, days: int = 7, **kwargs) -> SegmentationResult:
    return segment_citizens(
        frame, seed=42, scored_at=pd.Timestamp("2025-07-01 06:00"), prior=prior, selection_days=days,
        clock=_day(day), **kwargs,
    )  # fmt: skip


@pytest.fixture
def no_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise Selected

    monkeypatch.setattr(segmentation, "select_k", refuse)
    monkeypatch.setattr(segmentation, "bootstrap_stability", refuse)


def test_a_selection_run_says_so_and_stamps_its_date(citizens) -> None:
    frame, _ = citizens
    small = frame.loc[frame["kind"] == "resident"].head(300)
    result = segment_citizens(small, seed=1, n_bootstrap=3, clock=_day(3))
    assert result.metadata["selection"] == "selected"
    assert result.metadata["selected_at"] == "2025-07-03T06:00:00"
    assert result.metadata["selected_in"] == result.metadata["model_version"]


def test_a_young_prior_k_is_reused_without_selecting(citizens, result: SegmentationResult, no_selection) -> None:
    frame, _ = citizens
    prior = _prior(result)
    again = _segment_again(frame, prior, day=7)  # 6 days on
    assert again.metadata["selection"] == f"reused from 2025-07-01/{result.metadata['model_version']}"
    assert again.metadata["selected_at"] == SELECTED_AT
    for kind, summary in again.metadata["kinds"].items():
        for key in segmentation.SELECTION_FIGURES:
            assert summary[key] == prior["kinds"][kind][key], (kind, key)
    # The reused k is fitted the way selecting it fits it: the same segments as the selection run.
    pd.testing.assert_frame_equal(again.segments, result.segments)
    pd.testing.assert_frame_equal(again.profiles, result.profiles)
    assert again.metadata["model_version"] == result.metadata["model_version"]
    pd.testing.assert_frame_equal(_segment_again(frame, prior, day=7).segments, again.segments)  # deterministic
    # A reused run's metadata is the next run's prior, and it still ages from the selection.
    chained = json.loads(json.dumps(again.metadata, default=str))
    assert _segment_again(frame, chained, day=7).metadata["selection"] == again.metadata["selection"]
    with pytest.raises(Selected):
        _segment_again(frame, chained, day=8)


def test_the_prior_k_is_used_even_where_selecting_would_choose_another(
    citizens, result: SegmentationResult, no_selection
) -> None:
    frame, _ = citizens
    prior = _prior(result)
    prior["kinds"]["resident"]["k"] = 3  # selection chose 4 (test_planted_groups_are_recovered)
    again = _segment_again(frame, prior, day=2)
    residents = again.segments.loc[again.segments["kind"] == "resident"]
    assert again.metadata["kinds"]["resident"]["k"] == 3 and residents["segment_id"].nunique() == 3
    assert again.metadata["kinds"]["business"]["k"] == result.metadata["kinds"]["business"]["k"]
    assert again.metadata["model_version"] != result.metadata["model_version"]  # the version names the k
    # Citizens who withdrew consent since the selection drop out as on any run.
    withdrawn = frame.assign(consent_analytics=frame["consent_analytics"] & (frame.index % 10 != 0))
    fewer = _segment_again(withdrawn, prior, day=2)
    assert set(fewer.segments["citizen_id"]) == set(withdrawn.loc[withdrawn["consent_analytics"], "citizen_id"])
    assert fewer.metadata["selection"].startswith("reused from")


def _seed_changed(prior: dict) -> None:
    prior["params"]["seed"] = 7


def _code_changed(prior: dict) -> None:
    prior["code_version"] = "0.0.1+gfeedfacecafe"


def _kind_dropped(prior: dict) -> None:
    del prior["kinds"]["business"]


def _k_too_large(prior: dict) -> None:
    prior["kinds"]["business"]["k"] = 9  # outside today's k range


def _corrupt(prior: dict) -> None:
    prior["kinds"]["resident"] = "garbage"


@pytest.mark.parametrize(
    ("day", "days", "change"),
    [
        (8, 7, None),  # 7 days old: due
        (1, 0, None),  # 0 days: select on every run
        (2, 7, _seed_changed),
        (2, 7, _code_changed),
        (2, 7, _kind_dropped),
        (2, 7, _k_too_large),
        (2, 7, _corrupt),
    ],
)
def test_an_old_or_different_prior_selects_again(citizens, result, no_selection, day, days, change) -> None:
    frame, _ = citizens
    prior = _prior(result)
    if change:
        change(prior)
    with pytest.raises(Selected):
        _segment_again(frame, prior, day=day, days=days)


def test_a_prior_made_with_other_parameters_than_today_is_not_reused(citizens, result, no_selection) -> None:
    frame, _ = citizens
    with pytest.raises(Selected):
        _segment_again(frame, _prior(result), day=2, n_bootstrap=5)
    with pytest.raises(Selected):
        _segment_again(frame, _prior(result), day=2, k_range=range(2, 6))
