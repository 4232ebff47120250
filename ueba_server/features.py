"""The feature set `ueba-default-v1`: what the autoencoder sees of a connection.

When: hour of day and day of week, each as a point on a circle (sine, cosine), so 23:59 is next to 00:00.
Who, to what, from where: user, target host, target account, protocol and source network (/24 for IPv4,
/64 for IPv6), one-hot; a value never seen in training encodes as all zeros.
How long: the logarithm of the duration, standardised.
The evaluation label `is_anomaly` is never an input.

Every column is float32, so the matrix is float32 too: the autoencoder (MLPRegressor keeps float32 input
as float32) then multiplies half the bytes, and the matrix of 300k connections takes half the memory.

The columns are joined while sparse and made dense once, at the end: a dense one-hot block joined to the
others wrote the whole matrix twice (1.3 s of a training's start for 120,000 connections, against 0.3 s).
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ueba_server.connections import DAY_US, HOUR_US

TIME_COLUMNS = ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos"]
CATEGORY_COLUMNS = ["user", "target_host", "target_account", "protocol", "source_network"]
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
FEATURE_DTYPE = np.float32


def source_network(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return "unparsable"
    prefix = 24 if parsed.version == 4 else 64
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def describe_connections(connections: pd.DataFrame) -> pd.DataFrame:
    """Raw connection columns -> the model's input columns (before encoding)."""
    start = connections["start_us"].to_numpy(dtype=np.int64)
    hours = (start % DAY_US) / HOUR_US
    weekdays = (start // DAY_US + EPOCH_WEEKDAY) % 7 + hours / 24.0
    addresses = connections["source_address"]
    networks = {address: source_network(address) for address in addresses.unique()}
    hour_angle = 2 * np.pi * hours / 24.0
    weekday_angle = 2 * np.pi * weekdays / 7.0
    return pd.DataFrame(
        {
            "hour_sin": np.sin(hour_angle).astype(FEATURE_DTYPE),
            "hour_cos": np.cos(hour_angle).astype(FEATURE_DTYPE),
            "weekday_sin": np.sin(weekday_angle).astype(FEATURE_DTYPE),
            "weekday_cos": np.cos(weekday_angle).astype(FEATURE_DTYPE),
            "user": connections["user"].to_numpy(),
            "target_host": connections["target_host"].to_numpy(),
            "target_account": connections["target_account"].to_numpy(),
            "protocol": connections["protocol"].to_numpy(),
            "source_network": addresses.map(networks).to_numpy(),
            "log_duration": np.log1p(connections["duration_seconds"].to_numpy(dtype=np.float64)).astype(
                FEATURE_DTYPE
            ),
        }
    )


def feature_pipeline() -> Pipeline:
    """Unfitted: fit it on the training split only."""
    encode = ColumnTransformer(
        [
            ("time", "passthrough", TIME_COLUMNS),
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", dtype=FEATURE_DTYPE),
                CATEGORY_COLUMNS,
            ),
            ("duration", StandardScaler(), ["log_duration"]),
        ],
        sparse_threshold=1.0,
    )
    return Pipeline(
        [
            ("describe", FunctionTransformer(describe_connections)),
            ("encode", encode),
            ("densify", FunctionTransformer(densify)),
        ]
    )


def densify(matrix: sparse.csr_matrix | np.ndarray) -> np.ndarray:
    # ColumnTransformer stacks dense when every cell is filled (one user, one host, ...), below that sparse.
    return matrix.toarray() if sparse.issparse(matrix) else matrix
