"""Names, identity numbers, phone numbers and e-mail addresses, built vectorized.

Identity numbers and phones are derived from the citizen id through bijections, so they are unique
without a lookup table. Phones use the fictional 555 exchange; e-mails use the reserved example.* domains.
"""

from __future__ import annotations

import numpy as np
from numpy.dtypes import StringDType

S = StringDType()


def words(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=S)


FIRST_NAMES = words(
    """
    James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
    Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra
    Mark Ashley Donald Kimberly Steven Emily Andrew Donna Paul Michelle Joshua Carol Kenneth Amanda
    Kevin Melissa Brian Deborah George Stephanie Timothy Rebecca Ronald Sharon Jason Laura Edward
    Cynthia Jeffrey Amy Ryan Kathleen Jacob Angela Gary Shirley Nicholas Anna Eric Brenda Jonathan
    Pamela Wei Mei Raj Priya Carlos Sofia Luis Camila Ahmed Fatima Omar Aisha Dmitri Olga Kwame Ama
    Hiroshi Yuki Mateo Valentina Liam Zoe Noah Chloe Malik Imani Jose Lucia Andrei Elena Tariq Leila
    Sean Siobhan
    """
)
LAST_NAMES = words(
    """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
    Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
    Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
    Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Chen Wang Patel Kim Singh Cohen Murphy
    OBrien Kowalski Novak Rossi Schmidt Okafor Mensah Haddad Khan Ivanova Petrov Tanaka Sato Silva
    Santos Fischer Weber Dubois Laurent Larsen Berg Kaplan Goldberg Sullivan Kelly Doyle Brennan
    """
)
BUSINESS_WORDS = words(
    """
    Harbor Summit Maple Granite Riverside Liberty Crescent Beacon Pioneer Evergreen Atlas Cedar
    Northstar Keystone Lakeshore Union Metro Golden Iron Bluebird Oakwood Silverline Redbrick Parkside
    """
)
BUSINESS_TRADES = words(
    """
    Bakery Builders Logistics Dental Cafe Hardware Realty Motors Printing Pharmacy Plumbing Catering
    Electric Fitness Florist Tailors Grocers Consulting Architects Kitchens Auto Laundry Bistro Clinic
    """
)
BUSINESS_SUFFIXES = np.array(["LLC", "Inc.", "Co.", "Ltd.", "& Sons", "Group", "Corp."], dtype=S)
SECTORS = np.array(
    [
        "retail",
        "hospitality",
        "construction",
        "manufacturing",
        "professional_services",
        "healthcare",
        "logistics",
        "real_estate",
    ],
    dtype=object,
)
SECTOR_WEIGHTS = np.array([0.22, 0.18, 0.14, 0.08, 0.16, 0.08, 0.07, 0.07])
COMPANY_SIZES = np.array(["micro", "small", "medium", "large"], dtype=object)
COMPANY_SIZE_WEIGHTS = np.array([0.55, 0.30, 0.12, 0.03])
MAIL_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example.com"], dtype=S)
# 40 area codes x 10,000 numbers in the 555 exchange
AREA_CODES = words(
    """
    212 315 332 347 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 201 551 609 732 848 856
    862 908 973 203 475 860 959 267 215 484 610 570 717 412 724
    """
)


def to_str(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(S)


def zero_pad(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(to_str(np.asarray(values, dtype=np.int64)), width)


def join(*parts: np.ndarray | str) -> np.ndarray:
    out = parts[0] if not isinstance(parts[0], str) else np.array(parts[0], dtype=S)
    for p in parts[1:]:
        out = np.strings.add(out, p if not isinstance(p, str) else np.array(p, dtype=S))
    return out


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)], LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)]


def business_names(rng: np.random.Generator, n: int) -> np.ndarray:
    family = rng.random(n) < 0.4
    lead = np.where(
        family, LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)], BUSINESS_WORDS[rng.integers(0, len(BUSINESS_WORDS), n)]
    )
    return join(
        lead,
        " ",
        BUSINESS_TRADES[rng.integers(0, len(BUSINESS_TRADES), n)],
        " ",
        BUSINESS_SUFFIXES[rng.integers(0, len(BUSINESS_SUFFIXES), n)],
    )


def _luhn_check(payload: np.ndarray, width: int) -> np.ndarray:
    digits = (payload[:, None] // 10 ** np.arange(width - 1, -1, -1)[None, :]) % 10
    # Luhn doubles every second digit counting from the right of the payload, the rightmost included
    doubled = (np.arange(width - 1, -1, -1) % 2 == 0)[None, :]
    d = np.where(doubled, digits * 2, digits)
    d = np.where(d > 9, d - 9, d)
    return (10 - d.sum(axis=1) % 10) % 10


def identity_numbers(citizen_id: np.ndarray, is_business: np.ndarray) -> np.ndarray:
    """'NID' + 8 digits + Luhn check digit for residents, 'BRN' + 7 digits + check digit for businesses."""
    cid = np.asarray(citizen_id, dtype=np.int64)
    # affine bijections modulo 10^k (multiplier coprime with 10) scatter consecutive ids
    nid = (cid * 7_919_337 + 12_345_679) % 10**8
    brn = (cid * 3_571_333 + 1_234_567) % 10**7
    nid_s = join("NID", zero_pad(nid, 8), to_str(_luhn_check(nid, 8)))
    brn_s = join("BRN", zero_pad(brn, 7), to_str(_luhn_check(brn, 7)))
    return np.where(is_business, brn_s, nid_s)


def luhn_valid(numbers: np.ndarray) -> np.ndarray:
    """Whether the digits after the 3-letter prefix pass the Luhn check (for tests and docs)."""
    body = np.strings.slice(np.asarray(numbers, dtype=S), 3, None)
    values = body.astype(np.int64)
    width = np.strings.str_len(body)
    payload = values // 10
    out = np.zeros(len(values), dtype=bool)
    for w in np.unique(width):
        m = width == w
        out[m] = _luhn_check(payload[m], int(w) - 1) == values[m] % 10
    return out


def phone_digits(citizen_id: np.ndarray) -> np.ndarray:
    """10-digit national numbers: area code + 555 + 4 digits, unique for the first 400,000 ids."""
    x = (np.asarray(citizen_id, dtype=np.int64) * 7_777 + 1_234) % (len(AREA_CODES) * 10_000)
    return join(AREA_CODES[x // 10_000], "555", zero_pad(x % 10_000, 4))


def e164(digits: np.ndarray) -> np.ndarray:
    return join("+1", digits)


def caller_formats(rng: np.random.Generator, digits: np.ndarray, withheld_share: float = 0.10) -> np.ndarray:
    """The same number as different switches and handsets present it; about 10% withheld (empty)."""
    n = len(digits)
    area = np.strings.slice(digits, 0, 3)
    exch = np.strings.slice(digits, 3, 6)
    line = np.strings.slice(digits, 6, 10)
    variants = np.stack(
        [
            join("+1", digits),
            join("(", area, ") ", exch, "-", line),
            join(area, ".", exch, ".", line),
            join("+1 ", area, " ", exch, " ", line),
            digits,
            join(area, "-", exch, "-", line),
        ]
    )
    pick = rng.choice(variants.shape[0], n, p=[0.3, 0.2, 0.1, 0.15, 0.15, 0.1])
    out = variants[pick, np.arange(n)]
    return np.where(rng.random(n) < withheld_share, np.array("", dtype=S), out)


def malformed_phones(rng: np.random.Generator, phones: np.ndarray) -> np.ndarray:
    """Typing errors: too short, a letter for a digit, or stray spaces."""
    n = len(phones)
    kind = rng.integers(0, 3, n)
    short = np.strings.slice(phones, 0, 9)
    letter = np.strings.replace(phones, "0", "O")
    letter = np.where(letter == phones, np.strings.replace(phones, "1", "l"), letter)
    spaced = join(" ", np.strings.slice(phones, 0, 5), " ", np.strings.slice(phones, 5, None), " ")
    return np.where(kind == 0, short, np.where(kind == 1, letter, spaced))


def emails(
    citizen_id: np.ndarray, first: np.ndarray, last: np.ndarray, business_name: np.ndarray, is_business: np.ndarray
) -> np.ndarray:
    """Unique addresses (the citizen id is part of the local part) on reserved example domains."""
    cid = np.asarray(citizen_id, dtype=np.int64)
    domain = MAIL_DOMAINS[cid % len(MAIL_DOMAINS)]
    person = join(np.strings.lower(np.strings.slice(first, 0, 1)), np.strings.lower(last), to_str(cid), "@", domain)
    slug = np.strings.lower(
        np.strings.replace(np.strings.partition(business_name, np.array(" ", dtype=S))[0], "&", "and")
    )
    biz = join("info.", slug, to_str(cid), "@", domain)
    return np.where(is_business, biz, person)


def name_variant(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """The same name typed differently: all caps, lower case, doubled space or a trailing space."""
    n = len(names)
    kind = rng.integers(0, 4, n)
    return np.where(
        kind == 0,
        np.strings.upper(names),
        np.where(
            kind == 1,
            np.strings.lower(names),
            np.where(kind == 2, np.strings.replace(names, " ", "  ", 1), join(names, " ")),
        ),
    )
