"""Shared pytest options and fixtures.

``--device`` and ``--dtype`` let the same suite run on a GPU or in float64::

    .venv/bin/python -m pytest --device cuda --dtype float64
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICE_ENV = "FRMDN_TEST_DEVICE"


def test_device() -> str:
    """The ``--device`` of this run, for module-level helpers (fixtures use ``device``)."""
    return os.environ.get(DEVICE_ENV, "cpu")


test_device.__test__ = False  # a helper, not a test


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("frmdn")
    group.addoption(
        "--device",
        default="cpu",
        help="torch device the library tests run on, e.g. cpu, cuda, cuda:1 (default: cpu)",
    )
    group.addoption(
        "--dtype",
        default="float32",
        choices=sorted(DTYPES),
        help="floating-point dtype of the library tests (default: float32)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # One torch thread everywhere: the suite often shares its cores with other jobs, and
    # torch's default (one thread per core) then runs 10-100x slower. The CLI and the job
    # workers read the same setting from the environment.
    for name in ("FRMDN_THREADS", "FRMDN_THREADS_PER_JOB", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    torch.set_num_threads(1)
    device = torch.device(config.getoption("--device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {device} was asked for but CUDA is not available")
    os.environ[DEVICE_ENV] = str(device)  # for helpers outside fixtures (test_device())


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    """The torch device chosen with ``--device``."""
    return torch.device(pytestconfig.getoption("--device"))


@pytest.fixture(scope="session")
def dtype(pytestconfig: pytest.Config) -> torch.dtype:
    """The floating-point dtype chosen with ``--dtype``."""
    return DTYPES[pytestconfig.getoption("--dtype")]


@pytest.fixture
def clear_streamlit_caches() -> Iterator[None]:
    """Empty ``st.cache_data``/``st.cache_resource`` around a test.

    Streamlit's caches live in the process, so without this one AppTest would see the cached
    models and data of the previous one.
    """
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
