"""sidkit-toy: a small, genuine pipeline (text encoder, residual k-means, MLP generator,
exhaustive decoder) for sidkit's tests and demo. Components live in their own modules and
are imported only when built."""

__version__ = "0.1.0"
