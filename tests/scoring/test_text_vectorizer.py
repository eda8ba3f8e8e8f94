"""``scoring.text.tfidf`` against scikit-learn's ``TfidfVectorizer`` (the oracle).

The text criterion used ``TfidfVectorizer(dtype=np.float32, stop_words="english")``;
its own vectorizer must give the same terms, the same stored entries in the same order
and the same weights (within float32 rounding), so that no score moves.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

import scoring
import scoring.criteria.sets
from scoring.stop_words import ENGLISH_STOP_WORDS as OUR_STOP_WORDS
from scoring.synthetic import generate_cohort
from scoring.text import EmptyVocabularyError, tfidf


def sklearn_tfidf(docs: list[str]) -> tuple[sp.csr_array, list[str]]:
    vec = TfidfVectorizer(dtype=np.float32, stop_words="english")
    x = sp.csr_array(vec.fit_transform(docs))
    return x, list(vec.get_feature_names_out())


def assert_same_as_sklearn(docs: list[str]) -> None:
    try:
        want, want_terms = sklearn_tfidf(docs)
    except ValueError:  # scikit-learn's "empty vocabulary"
        with pytest.raises(EmptyVocabularyError, match="empty vocabulary"):
            tfidf(docs)
        return
    got, terms = tfidf(docs)
    assert terms == want_terms
    assert got.shape == want.shape
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)  # same entries, same order
    np.testing.assert_allclose(got.data, want.data, rtol=0, atol=1e-6)


#: Pieces of texts: words that recur across texts, stop words, accents, digits,
#: underscores, one-letter words, punctuation and odd spacing.
PIECES = [
    "data", "Data", "DATA", "python3", "3d", "42", "2024", "x", "a", "I", "the", "and",
    "not", "Café", "cafe", "CAFÉ", "naïve", "résumé", "Straße", "İstanbul", "ǅemal",
    "snake_case", "__init__", "_", "_a", "٣٤", "数据", "ok!", "e-mail", "co-op", "it's",
    "...", "!!", " ", "\t", "\n", "—", "don't", "mentor's", "growth,", "(team)",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join) | st.text(max_size=30)


@settings(max_examples=200, deadline=None)
@given(docs=st.lists(texts, min_size=1, max_size=8))
def test_random_texts_equal_sklearn(docs: list[str]) -> None:
    assert_same_as_sklearn(docs)


@pytest.mark.parametrize(
    "docs",
    [
        ["Café au lait", "cafe AU LAIT", "CAFÉ crème"],  # accents kept, case folded
        ["python3 and 2024 goals", "42 x 7", "0 1 22 333"],  # digits are word characters
        ["snake_case __init__", "_a _ __", "snake case"],  # so are underscores
        ["!!! ... ---", "data science", ""],  # punctuation only, empty
        ["", "", "career growth"],
        ["one document with a word or two, a word"],
        ["same text here", "same text here", "same text here"],  # duplicates: idf = 1
        ["Career growth", "career GROWTH", "growth"],
        ["the and of", "data", "would have been"],  # a text of stop words only
    ],
)
def test_edge_cases_equal_sklearn(docs: list[str]) -> None:
    assert_same_as_sklearn(docs)


@pytest.mark.parametrize("docs", [[""], ["", ""], ["!!! ...", "a b c"], ["the and of", "I"]])
def test_no_word_anywhere_is_an_empty_vocabulary(docs: list[str]) -> None:
    assert_same_as_sklearn(docs)
    with pytest.raises(EmptyVocabularyError):
        tfidf(docs)


def test_a_string_is_not_a_sequence_of_texts() -> None:
    with pytest.raises(TypeError, match="one string"):
        tfidf("career growth")


def test_stop_words_equal_sklearn() -> None:
    assert OUR_STOP_WORDS == ENGLISH_STOP_WORDS


def test_a_generated_cohort_is_bit_for_bit_sklearn() -> None:
    mentees, mentors, _ = generate_cohort(400, 300, seed=5)
    docs = [str(p["attributes"].get("goals") or "") for p in [*mentees, *mentors]]
    got, terms = tfidf(docs)
    want, want_terms = sklearn_tfidf(docs)
    assert terms == want_terms
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_scores_and_reasons_equal_those_of_the_sklearn_vectorizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mentees, mentors, config = generate_cohort(150, 120, seed=11)
    assert any(c["kind"] == "text_similarity" for c in config["criteria"])
    rows, cols = np.arange(150), np.arange(150) % 120
    ours = scoring.compatibility(mentees, mentors, config)
    our_reasons = [e.reasons for e in scoring.explain(ours, rows, cols)]

    def oracle(docs: list[str]) -> tuple[sp.csr_array, list[str]]:
        try:
            return sklearn_tfidf(docs)
        except ValueError as exc:
            raise EmptyVocabularyError(str(exc)) from exc

    monkeypatch.setattr(scoring.criteria.sets, "tfidf", oracle)
    theirs = scoring.compatibility(mentees, mentors, config)
    np.testing.assert_array_equal(ours.scores, theirs.scores)
    np.testing.assert_array_equal(ours.allowed, theirs.allowed)
    assert our_reasons == [e.reasons for e in scoring.explain(theirs, rows, cols)]
    assert any("Similar goals" in r for reasons in our_reasons for r in reasons)


def test_a_text_criterion_on_texts_without_words_scores_zero() -> None:
    mentees, mentors, config = generate_cohort(12, 10, seed=2)
    for k, person in enumerate([*mentees, *mentors]):
        person["attributes"]["goals"] = ["", "the and of", "!!! x ..."][k % 3]
    only_text = [c for c in config["criteria"] if c["kind"] == "text_similarity"]
    config["criteria"] = only_text
    result = scoring.compatibility(mentees, mentors, config)
    np.testing.assert_array_equal(result.scores, np.zeros((12, 10), dtype=np.float32))
    rows, cols = np.arange(10), np.arange(10)
    assert all(e.reasons == [] for e in scoring.explain(result, rows, cols))
