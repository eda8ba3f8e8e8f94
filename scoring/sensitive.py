"""Refusal of sensitive categories of personal data in program configurations and values.

The privacy policy (DESIGN section 6) accepts no special categories of personal data
(GDPR article 9: racial or ethnic origin, political opinions, religious or
philosophical beliefs, trade-union membership, genetic and biometric data, health, sex
life and sexual orientation) and, beyond them, no finances or criminal records.

How text is matched. A field key, criterion name or value is first normalized: NFKD
with the accents dropped (``religión`` -> ``religion``), case-folded, split into word
tokens at separators and camel case (``health_status``, ``salaryBand``); runs of
single letters are joined (``r_e_l_i_g_i_o_n``, ``H.I.V.``), and a token glued to a
common suffix or prefix is split (``hivstatus``, ``isDisabled``). It is refused when
a token or a two-word phrase is on the list. Keys and names use the broad list (a
field ``medical_notes`` collects health data); values use a narrower list of words
naming a membership or a condition (``muslim``, ``bisexual``, ``hiv``, ``diabetes``),
so that a department called ``finance`` or ``medical`` stays possible. Whole tokens
only, so it can over-refuse a harmless word (``race_car``): the admin renames the
field. Health conditions are named (HIV, cancer, depression, ADHD, pregnancy...), so
``hiv_status`` is refused like ``health_status``.

Demographic fields, an explicit decision (:data:`ACCEPTED_DEMOGRAPHICS`): ``gender``,
``age``, ``nationality``, ``country`` and ``pronouns`` are not special categories and
are accepted (mentoring programs for women match on gender by design); ``sex`` is
refused (it reads as sex life; name the field ``gender``), and so are
``gender_identity``, ``transgender`` and ``intersex`` (they reveal health or sex life),
like ``race`` and ``ethnicity``.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

__all__ = ["ACCEPTED_DEMOGRAPHICS", "sensitive_reason"]

#: Demographic field keys accepted on purpose (not special categories); see above.
ACCEPTED_DEMOGRAPHICS = ("gender", "age", "nationality", "country", "pronouns")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Health conditions by name: refused as keys and as values alike.
_CONDITIONS = _words(
    """
    hiv cancer diabetes diabetic asthma epilepsy epileptic depression depressive
    anxiety adhd autism autistic asperger aspergers dyslexia dyslexic bipolar schizophrenia
    schizophrenic ptsd ocd dementia alzheimer alzheimers hepatitis
    covid vaccination vaccinated unvaccinated neurodivergent neurodiverse neurodivergence
    wheelchair deaf pregnant pregnancy miscarriage abortion ivf infertility infertile
    """
)
# Tokens that make a field key or criterion name refer to a sensitive category.
_SENSITIVE_TOKENS = _CONDITIONS | _words(
    """
    health healthcare medical medication medications medicine diagnosis diagnoses diagnosed
    illness illnesses disease diseases disability disabilities disabled handicap handicapped
    impairment impaired chronic sickness allergy allergies bmi psychiatric maternity
    religion religions religious faith church worship creed
    ethnicity ethnicities ethnic race races racial caste
    sex sexual sexuality lgbt lgbtq lgbtqia gay lesbian bisexual homosexual heterosexual
    transgender intersex
    finances salary salaries income incomes wage wages debt debts indebtedness credit
    bankruptcy loan loans mortgage savings
    political politics ideology
    criminal crime crimes conviction convictions arrest arrests offence offences offense offenses
    genetic genetics genome dna biometric biometrics fingerprint fingerprints
    religiao religione salud sante saude gesundheit krankheit behinderung discapacidad
    embarazo schwangerschaft etnia ethnie raza sexualidad sexualite
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
        ("blood", "type"),
        ("blood", "group"),
    }
)
# Words that, as a value, name membership in a sensitive category or a condition.
_SENSITIVE_VALUE_TOKENS = _CONDITIONS | _words(
    """
    religion religious christian christianity muslim islam islamic jewish judaism hindu hinduism
    buddhist buddhism sikh sikhism atheist agnostic catholic protestant mormon
    musulman musulmana cristiano cristiana judio judia
    gay lesbian bisexual homosexual heterosexual pansexual transgender intersex
    lgbt lgbtq lgbtqia queer asexual
    disabled disability disabilities handicapped
    ethnicity sexuality salary income debt criminal conviction genetic biometric
    democrat democrats republican republicans communist socialist
    """
)
# A sensitive word glued to one of these is still that word (``hivstatus``, ``isdisabled``).
_SUFFIXES = ("status", "positive", "negative", "info", "data", "type", "history", "level")
_PREFIXES = ("is", "has", "had", "my")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _fold(text: str) -> str:
    """Accents dropped (NFKD minus combining marks), camel case split, case-folded."""
    decomposed = unicodedata.normalize("NFKD", _CAMEL.sub(" ", text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _tokens(text: str) -> list[str]:
    raw = [t for t in _NON_WORD.split(_fold(text)) if t]
    # Runs of single letters are one word spelled out: r_e_l_i_g_i_o_n, H.I.V.
    out: list[str] = []
    for single, group in itertools.groupby(raw, key=lambda t: len(t) == 1):
        items = list(group)
        if single and len(items) > 1:
            out.append("".join(items))
        else:
            out.extend(items)
    return out


def _glued(token: str, vocab: frozenset[str]) -> str | None:
    """The sensitive word inside ``token`` with a suffix or prefix glued on, if any."""
    for suffix in _SUFFIXES:
        stem = token.removesuffix(suffix)
        if stem != token and stem in vocab:
            return stem
    for prefix in _PREFIXES:
        stem = token.removeprefix(prefix)
        if stem != token and stem in vocab:
            return stem
    return None


def sensitive_reason(text: str, *, value: bool = False) -> str | None:
    """Say why a key, name or value collects a sensitive category.

    Parameters
    ----------
    text : str
        A field key or criterion name (``value=False``), or a value (declared in a
        config, or a participant's skill, ``multi`` or open-category value).
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
    >>> sensitive_reason("religión"), sensitive_reason("r_e_l_i_g_i_o_n")
    ('religion', 'religion')
    >>> sensitive_reason("hivStatus"), sensitive_reason("hivstatus")
    ('hiv', 'hiv')
    >>> sensitive_reason("wealth_management_skills") is None
    True
    >>> sensitive_reason("gender") is None, sensitive_reason("finance", value=True) is None
    (True, True)
    """
    return _reason(text, value)


# Uploads ask about every skill and value of every row: 118k calls for a 10k x 10k
# cohort, 40% of reading its files, over a few thousand distinct strings.
@functools.lru_cache(maxsize=65536)
def _reason(text: str, value: bool) -> str | None:
    toks = _tokens(text)
    vocab = _SENSITIVE_VALUE_TOKENS if value else _SENSITIVE_TOKENS
    for tok in toks:
        if tok in vocab:
            return tok
    if not value:
        for pair in itertools.pairwise(toks):
            if pair in _SENSITIVE_PHRASES:
                return " ".join(pair)
    for tok in toks:
        if (stem := _glued(tok, vocab)) is not None:
            return stem
    return None
