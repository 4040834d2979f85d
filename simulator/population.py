"""Citizens: who registers when, their planted group and personal rate, and life changes (moves, consent)."""

from __future__ import annotations

import numpy as np

from simulator import identities as ids
from simulator.catalog import Catalog
from simulator.columns import Columns, concat, length, take
from simulator.dirty import MALFORMED_PHONE_SHARE, malformed_phones
from simulator.groups import (
    GROUP_BIRTH,
    GROUP_EMAIL,
    GROUP_KIND_IS_BUSINESS,
    GROUP_RATE,
    GROUP_SHARE,
    RATE_FLOOR,
    RATE_SHAPE,
    RESIDENT_SHARE,
)
from simulator.timeline import DAY

YEAR = 365.25 * DAY
TENURE_YEARS = 8  # the case system went live this long before the first simulated day
GROWTH_PER_YEAR = 0.05  # new registrations, relative to the citizens already registered
DUPLICATE_SHARE = 0.005
DUPLICATE_RATE_FACTOR = 0.25  # a duplicate account sees a fraction of its person's activity
CONSENT_SHARE = 0.75
NO_PHONE_SHARE = 0.02
MOVES_PER_YEAR = {False: 0.08, True: 0.03}  # residents, businesses
# Withdrawals and grants balance at the 75% consent share.
CONSENT_WITHDRAWALS_PER_YEAR = 0.02
CONSENT_GRANTS_PER_YEAR = CONSENT_WITHDRAWALS_PER_YEAR * CONSENT_SHARE / (1 - CONSENT_SHARE)


def _draw_groups(rng: np.random.Generator, n: int) -> np.ndarray:
    business = rng.random(n) >= RESIDENT_SHARE
    res_groups = np.flatnonzero(~GROUP_KIND_IS_BUSINESS)
    biz_groups = np.flatnonzero(GROUP_KIND_IS_BUSINESS)
    res = rng.choice(res_groups, n, p=GROUP_SHARE[res_groups] / GROUP_SHARE[res_groups].sum())
    biz = rng.choice(biz_groups, n, p=GROUP_SHARE[biz_groups] / GROUP_SHARE[biz_groups].sum())
    return np.where(business, biz, res)


def _district_weights(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    pop = catalog.district_population.astype(np.float64)
    return pop / pop.sum(), pop * catalog.district_business / (pop * catalog.district_business).sum()


def _people(
    rng: np.random.Generator, citizen_id: np.ndarray, created: np.ndarray, catalog: Catalog, dirty: bool
) -> tuple[Columns, Columns]:
    """Brand-new people (not duplicates) with the ids and registration times given; `dirty` mistypes
    some phone numbers."""
    n = len(citizen_id)
    group = _draw_groups(rng, n)
    business = GROUP_KIND_IS_BUSINESS[group]
    # individual variation, floored so that every member stays active enough to show their group
    rate = GROUP_RATE[group] * np.maximum(rng.gamma(RATE_SHAPE, 1 / RATE_SHAPE, n), RATE_FLOOR)
    first, last = ids.person_names(rng, n)
    biz_name = ids.business_names(rng, n)
    full_name = np.where(business, biz_name, ids.join(first, " ", last))
    res_w, biz_w = _district_weights(catalog)
    district = np.where(business, rng.choice(len(biz_w), n, p=biz_w), rng.choice(len(res_w), n, p=res_w)).astype(
        np.int64
    )
    lo, hi = GROUP_BIRTH[group, 0], GROUP_BIRTH[group, 1]
    birth = np.where(business, -1, lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64))
    digits = ids.phone_digits(citizen_id)
    phone = malformed_phones(rng, ids.e164(digits), MALFORMED_PHONE_SHARE if dirty else 0.0)
    phone = np.where(rng.random(n) < NO_PHONE_SHARE, np.array("", dtype=ids.S), phone)
    email = ids.emails(citizen_id, first, last, biz_name, business)
    email = np.where(rng.random(n) < GROUP_EMAIL[group], email, np.array("", dtype=ids.S))
    sector = np.where(business, ids.SECTORS[rng.choice(len(ids.SECTORS), n, p=ids.SECTOR_WEIGHTS)], "")
    size = np.where(business, ids.COMPANY_SIZES[rng.choice(len(ids.COMPANY_SIZES), n, p=ids.COMPANY_SIZE_WEIGHTS)], "")
    citizens = {
        "citizen_id": citizen_id,
        "kind": np.where(business, "business", "resident").astype(ids.S),
        "full_name": full_name,
        "identity_number": ids.identity_numbers(citizen_id, business),
        "phone": phone,
        "email": email,
        "district": district,
        "birth_year": birth,
        "sector": sector.astype(ids.S),
        "company_size": size.astype(ids.S),
        "consent_analytics": rng.random(n) < CONSENT_SHARE,
        "created_at": created,
        "updated_at": created.copy(),
    }
    traits = {"citizen_id": citizen_id, "group_id": group, "rate": rate, "phone_digits": digits}
    return citizens, traits


def _duplicates(
    rng: np.random.Generator, citizen_id: np.ndarray, created: np.ndarray, source: Columns, source_traits: Columns
) -> tuple[Columns, Columns]:
    """The same people registered a second time: new id, the name typed differently."""
    n = len(citizen_id)
    keep_id = rng.random(n) < 0.6
    email_pick = rng.random(n)
    other_email = ids.join("x", source["email"])  # a second address of the same person
    email = np.where(email_pick < 0.3, source["email"], np.where(email_pick < 0.7, "", other_email))
    email = np.where(source["email"] == "", "", email).astype(ids.S)
    citizens = dict(source)
    citizens.update(
        {
            "citizen_id": citizen_id,
            "full_name": ids.name_variant(rng, source["full_name"]),
            "identity_number": np.where(keep_id, source["identity_number"], "").astype(ids.S),
            "email": email,
            "consent_analytics": rng.random(n) < CONSENT_SHARE,
            "created_at": created,
            "updated_at": created.copy(),
        }
    )
    traits = {
        "citizen_id": citizen_id,
        "group_id": source_traits["group_id"],
        "rate": source_traits["rate"] * DUPLICATE_RATE_FACTOR,
        "phone_digits": source_traits["phone_digits"],
    }
    return citizens, traits


def initial_registrations(
    rng: np.random.Generator, citizens: int, window_start: int, now: int, catalog: Catalog, *, dirty: bool = True
) -> tuple[Columns, Columns]:
    """The citizens registered before the first simulated day, those registering during the window,
    and (when `dirty`) duplicate registrations of some of them; ids follow registration order."""
    before = window_start - (rng.random(citizens) * TENURE_YEARS * YEAR).astype(np.int64)
    window_years = (now - window_start) / YEAR
    expected = citizens * ((1 + GROWTH_PER_YEAR) ** window_years - 1)
    n_new = int(rng.poisson(expected))
    during = window_start + (rng.random(n_new) * (now - window_start)).astype(np.int64)
    # registrations grow with the population: a mild bias towards the end of the window
    created = np.sort(np.concatenate([before, during]))
    n = len(created)
    n_dup = int(rng.binomial(n, DUPLICATE_SHARE if dirty else 0.0))
    src = rng.choice(n, n_dup, replace=False) if n_dup else np.zeros(0, dtype=np.int64)
    dup_created = created[src] + (rng.uniform(20, 1000, n_dup) * DAY).astype(np.int64)
    late = dup_created >= now
    dup_created = np.where(
        late, created[src] + ((now - created[src]) * rng.random(n_dup)).astype(np.int64), dup_created
    )
    all_created = np.concatenate([created, dup_created])
    order = np.lexsort((np.arange(len(all_created)), all_created))
    new_id = np.empty(len(all_created), dtype=np.int64)
    new_id[order] = np.arange(1, len(all_created) + 1)
    people, people_traits = _people(rng, new_id[:n], created, catalog, dirty)
    dups, dup_traits = _duplicates(rng, new_id[n:], dup_created, take(people, src), take(people_traits, src))
    cit = concat([people, dups])
    tr = concat([people_traits, dup_traits])
    return take(cit, order), take(tr, order)


def daily_registrations(
    rng: np.random.Generator,
    existing: Columns,
    existing_traits: Columns,
    next_id: int,
    window_start: int,
    now: int,
    catalog: Catalog,
    *,
    dirty: bool = True,
) -> tuple[Columns, Columns]:
    """Registrations during a continued window, duplicates of already registered people included
    when `dirty`."""
    n_now = length(existing)
    expected = n_now * ((1 + GROWTH_PER_YEAR) ** ((now - window_start) / YEAR) - 1)
    n_new = int(rng.poisson(expected))
    n_dup = int(rng.binomial(max(n_new, 1), DUPLICATE_SHARE * 2)) if n_now and dirty else 0
    created = window_start + (rng.random(n_new + n_dup) * (now - window_start)).astype(np.int64)
    order = np.lexsort((np.arange(n_new + n_dup), created))
    new_id = np.empty(n_new + n_dup, dtype=np.int64)
    new_id[order] = next_id + np.arange(n_new + n_dup)
    people, people_traits = _people(rng, new_id[:n_new], created[:n_new], catalog, dirty)
    src = rng.choice(n_now, n_dup, replace=False) if n_dup else np.zeros(0, dtype=np.int64)
    dups, dup_traits = _duplicates(
        rng, new_id[n_new:], created[n_new:], take(existing, src), take(existing_traits, src)
    )
    cit = concat([people, dups])
    tr = concat([people_traits, dup_traits])
    return take(cit, order), take(tr, order)


def life_changes(rng: np.random.Generator, citizens: Columns, window_start: int, now: int, catalog: Catalog) -> Columns:
    """Moves to another district and consent changes during [window_start, now), at most one of each
    per citizen per window. Returns citizen index, time and the new values (-1 when unchanged)."""
    n = length(citizens)
    since = np.maximum(citizens["created_at"], window_start)
    exposure = np.clip(now - since, 0, None) / YEAR
    business = citizens["kind"] == "business"
    move_rate = np.where(business, MOVES_PER_YEAR[True], MOVES_PER_YEAR[False])
    moves = rng.random(n) < 1 - np.exp(-move_rate * exposure)
    flip_rate = np.where(citizens["consent_analytics"], CONSENT_WITHDRAWALS_PER_YEAR, CONSENT_GRANTS_PER_YEAR)
    flips = rng.random(n) < 1 - np.exp(-flip_rate * exposure)
    idx = np.flatnonzero(moves | flips)
    res_w, _ = _district_weights(catalog)
    target = rng.choice(len(res_w), len(idx), p=res_w)
    current = citizens["district"][idx]
    target = np.where(target == current, (target + 1) % len(res_w), target)
    at = since[idx] + (rng.random(len(idx)) * (now - since[idx])).astype(np.int64)
    return {
        "index": idx,
        "at": at,
        "district": np.where(moves[idx], target, -1),
        "old_district": current,
        "flip": flips[idx],
    }


def apply_changes(citizens: Columns, changes: Columns) -> Columns:
    """The citizens table after the changes: new district/consent and updated_at."""
    out = {k: v.copy() for k, v in citizens.items()}
    idx = changes["index"]
    moved = changes["district"] >= 0
    out["district"][idx[moved]] = changes["district"][moved]
    flip = changes["flip"]
    out["consent_analytics"][idx[flip]] = ~out["consent_analytics"][idx[flip]]
    out["updated_at"][idx] = np.maximum(out["updated_at"][idx], changes["at"])
    return out


def home_district(citizens: Columns, changes: Columns, citizen_index: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Each citizen's district at time `at`: the one before a move in the window, if the move came later."""
    final = citizens["district"][citizen_index]
    if len(changes["index"]) == 0:
        return final
    n = length(citizens)
    move_at = np.full(n, np.iinfo(np.int64).max)
    old = np.full(n, -1)
    moved = changes["district"] >= 0
    move_at[changes["index"][moved]] = changes["at"][moved]
    old[changes["index"][moved]] = changes["old_district"][moved]
    before = at < move_at[citizen_index]
    return np.where(before & (old[citizen_index] >= 0), old[citizen_index], final)
