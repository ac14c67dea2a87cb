"""Toast's token, restaurant and back-off caches live per process: each test starts empty."""

import pytest

from connectors.toast import api
from connectors.toast.tests.helpers import FakeClock


@pytest.fixture(autouse=True)
def fresh_toast_session():
    api.SESSION.reset()
    api.SESSION.clock = FakeClock()
    yield
    api.SESSION.reset()
