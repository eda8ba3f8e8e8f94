"""TF-IDF of the text criterion on NumPy and SciPy, without scikit-learn.

:func:`tfidf` computes what ``sklearn.feature_extraction.text.TfidfVectorizer(
dtype=np.float32, stop_words="english")`` computes with its other defaults, the way it
computes it, so that the scores of a text criterion stay those of the scikit-learn
version (``tests/scoring/test_text_vectorizer.py`` uses it as the oracle):

* words: ``re.findall(r"(?u)\\b\\w\\w+\\b", text.lower())`` (2+ word characters; digits
  and underscores are word characters; accents are kept, not stripped), minus the
  English stop words of :mod:`scoring.stop_words`;
* vocabulary: every remaining word (``min_df=1``, ``max_df=1.0``), sorted; the entries
  of a row are stored in the order their words first appear in all the texts, as
  scikit-learn stores them (a row's sums then add in the same order);
* weights: ``count * idf`` with ``idf = ln((1 + n) / (1 + df)) + 1`` in float32
  (``smooth_idf=True``, ``sublinear_tf=False``), then each row divided by its l2 norm
  (summed in float64, as scikit-learn's ``normalize`` does); an empty row stays empty.

Scikit-learn costs about a second of start-up (its package ``__init__`` loads SciPy's
statistics and pandas): ``mentormatch match`` with a text criterion no longer pays it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from scoring.stop_words import ENGLISH_STOP_WORDS

__all__ = ["TOKEN_PATTERN", "EmptyVocabularyError", "tfidf"]

#: scikit-learn's default ``token_pattern``.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"

_TOKEN = re.compile(TOKEN_PATTERN)


class EmptyVocabularyError(ValueError):
    """No text has a word of 2+ characters that is not a stop word."""


def _tokens(docs: Sequence[str]) -> tuple[list[str], list[int], list[int]]:
    """Vocabulary in order of first appearance; every kept word's id; each text's end."""
    vocabulary: dict[str, int] = {}
    ids: list[int] = []
    ends = [0]
    stop, number = ENGLISH_STOP_WORDS, vocabulary.setdefault
    for doc in docs:
        words = _TOKEN.findall(doc.lower())
        ids.extend([number(w, len(vocabulary)) for w in words if w not in stop])
        ends.append(len(ids))
    return list(vocabulary), ids, ends


def tfidf(docs: Sequence[str]) -> tuple[sp.csr_array, list[str]]:
    """The l2-normalized TF-IDF matrix (float32, one row per text) and its sorted terms.

    Raises :class:`EmptyVocabularyError` when no text has a word (scikit-learn's
    ``ValueError: empty vocabulary``).
    """
    if isinstance(docs, str):
        raise TypeError("tfidf: expected a sequence of texts, got one string")
    words, ids, ends = _tokens(docs)
    if not words:
        raise EmptyVocabularyError(
            "empty vocabulary: the texts have no word of 2+ characters that is not a stop word"
        )
    n_docs, n_words = len(docs), len(words)
    # Counts of (text, word) keys, sorted by text then by the word's first appearance
    # in all the texts: the order of scikit-learn's entries (it sorts its count
    # matrix's indices before it renumbers the vocabulary in sorted order).
    row = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(ends))
    keys, counts = np.unique(row * n_words + np.asarray(ids, dtype=np.int64), return_counts=True)
    index_type = np.int32 if keys.size <= np.iinfo(np.int32).max else np.int64
    order = sorted(range(n_words), key=words.__getitem__)
    rank = np.empty(n_words, dtype=index_type)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(n_words, dtype=index_type)
    indices = rank[keys % n_words]
    lengths = np.bincount(keys // n_words, minlength=n_docs)
    indptr = np.zeros(n_docs + 1, dtype=index_type)
    np.cumsum(lengths, out=indptr[1:])

    df = np.bincount(indices, minlength=len(words)).astype(np.float32)
    df += 1.0
    idf = np.full_like(df, n_docs + 1)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    data = counts.astype(np.float32)
    data *= idf[indices]

    squares = np.square(data).astype(np.float64)
    filled = lengths > 0
    norms = np.zeros(n_docs, dtype=np.float64)
    norms[filled] = np.sqrt(np.add.reduceat(squares, indptr[:-1][filled].astype(np.intp)))
    data = (data / np.repeat(norms, lengths)).astype(np.float32)
    x = sp.csr_array((data, indices, indptr), shape=(n_docs, n_words))
    return x, [words[k] for k in order]
