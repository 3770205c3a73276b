"""The copied stop-word list stays identical to scikit-learn's."""

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SKLEARN

from kgenhance.link.stopwords import ENGLISH_STOP_WORDS


def test_stop_words_match_scikit_learn():
    assert ENGLISH_STOP_WORDS == SKLEARN
