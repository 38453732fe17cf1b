import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from executor import Executor  # noqa: E402


@pytest.fixture(scope="session")
def executor():
    worker = Executor()
    yield worker
    worker.close()
