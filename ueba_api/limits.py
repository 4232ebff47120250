"""The UEBA contract's numeric limits, each defined here once: the server enforces them, the client, the
pages and the quality hints read them from here."""

MIN_TRAINING_CONNECTIONS = 5_000
"""The engine refuses to train a dataset that leaves fewer connections than this."""

DEFAULT_HISTOGRAM_BINS = 50
"""Bins of a validation-loss histogram when a request names no `bin_count`."""

MAX_HISTOGRAM_BINS = 1_000
"""The most bins a request may ask for (`bin_count` is 1..this)."""

MAX_COMMENT_LENGTH = 10_000
"""Characters a dataset comment may hold."""

MAX_EXCLUDED_PERIODS = 1_000
"""Excluded periods a dataset may hold."""

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body the API accepts (1 MiB)."""
