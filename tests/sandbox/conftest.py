"""Each sandbox test gets a freshly seeded sandbox core."""

import pytest

from bridge.sandbox import create_sandbox_app


@pytest.fixture()
def app():
    return create_sandbox_app()


@pytest.fixture()
def client(app):
    return app.test_client()
