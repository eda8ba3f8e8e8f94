"""Refusal of sensitive categories of personal data in program configurations.

Field keys and criterion names are split into lower-case word tokens
(``health_status``, ``salaryBand`` -> ``health``/``status``, ``salary``/``band``)
and refused when a token or a two-word phrase is on the list: ``religion``,
``health_status`` and ``salary_band`` are refused while
``wealth_management_skills``, ``finance_experience`` or ``gender`` (often
matched on by design in mentoring programs for women) are accepted;
``gender_identity``, ``sexual_orientation`` and ``transgender`` are refused.
Declared category and multi ``values`` are checked against a narrower list of
words naming a membership in a sensitive category (``muslim``, ``bisexual``,
``diabetes``...) so that a department called ``finance`` or ``medical`` stays
possible. Matching is on whole tokens, so it can over-refuse a harmless word
(``race_car``): the admin renames the field.
"""

from __future__ import annotations

import itertools
import re

__all__ = ["sensitive_reason"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tokens that make a field key or criterion name refer to a sensitive category.
_SENSITIVE_TOKENS = _words(
    """
    health healthcare medical medication medications medicine diagnosis diagnoses illness
    illnesses disease diseases disability disabilities disabled handicap handicapped impairment
    pregnancy pregnant religion religions religious faith church worship creed
    ethnicity ethnicities ethnic race races racial caste
    sexual sexuality lgbt lgbtq lgbtqia gay lesbian bisexual homosexual heterosexual transgender
    finances salary salaries income incomes wage wages debt debts indebtedness credit
    bankruptcy loan loans mortgage savings
    political politics ideology
    criminal crime crimes conviction convictions arrest arrests offence offences offense offenses
    genetic genetics genome dna biometric biometrics fingerprint fingerprints
    """
)
_SENSITIVE_PHRASES = frozenset(
    {
        ("sexual", "orientation"),
        ("gender", "identity"),
        ("trade", "union"),
        ("union", "membership"),
        ("union", "member"),
        ("net", "worth"),
        ("financial", "status"),
        ("financial", "situation"),
        ("party", "affiliation"),
        ("philosophical", "beliefs"),
        ("religious", "beliefs"),
        ("mental", "state"),
    }
)
# Words that, as a declared value, name membership in a sensitive category.
_SENSITIVE_VALUE_TOKENS = _words(
    """
    religion religious christian christianity muslim islam islamic jewish judaism hindu hinduism
    buddhist buddhism sikh sikhism atheist agnostic catholic protestant mormon
    gay lesbian bisexual homosexual heterosexual transgender lgbt lgbtq lgbtqia queer asexual
    disabled disability disabilities handicapped diabetes diabetic cancer hiv pregnant pregnancy
    ethnicity sexuality salary income debt criminal conviction genetic biometric
    democrat democrats republican republicans communist socialist
    """
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_WORD.split(_CAMEL.sub(" ", text).lower()) if t]


def sensitive_reason(text: str, *, value: bool = False) -> str | None:
    """Say why a key, name or declared value collects a sensitive category.

    Parameters
    ----------
    text : str
        A field key or criterion name (``value=False``), or a declared value.
    value : bool, optional
        Use the narrower list of words that name membership in a category.

    Returns
    -------
    str or None
        The offending word or phrase, or ``None`` when nothing was found.

    Examples
    --------
    >>> sensitive_reason("health_status")
    'health'
    >>> sensitive_reason("sexualOrientation")
    'sexual'
    >>> sensitive_reason("gender_identity")
    'gender identity'
    >>> sensitive_reason("wealth_management_skills") is None
    True
    >>> sensitive_reason("finance", value=True) is None
    True
    """
    toks = _tokens(text)
    vocab = _SENSITIVE_VALUE_TOKENS if value else _SENSITIVE_TOKENS
    for tok in toks:
        if tok in vocab:
            return tok
    if not value:
        for pair in itertools.pairwise(toks):
            if pair in _SENSITIVE_PHRASES:
                return " ".join(pair)
    return None
