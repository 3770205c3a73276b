"""kgenhance: knowledge-aware BERT-family classifiers."""
__version__ = "0.1.0"
