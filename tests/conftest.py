"""Suite-wide fixtures."""

import logging

import pytest


@pytest.fixture(autouse=True)
def restore_logging():
    """Commands run in-process install their own log handler; don't let it outlive the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
