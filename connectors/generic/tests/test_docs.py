"""The README and schema.json say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connectors.generic.schema import FIELDS
from connectors.generic.tests.posting import connect, post
from tests.support import CONNECTORS

FOLDER = CONNECTORS / "generic"
README = (FOLDER / "README.md").read_text()
SCHEMA = json.loads((FOLDER / "schema.json").read_text())


def test_schema_json_names_exactly_the_fields_the_code_reads():
    assert set(SCHEMA["properties"]) == set(FIELDS)


def test_every_field_is_in_the_readme_table():
    for name in FIELDS:
        assert f"| `{name}` |" in README, name


@pytest.mark.parametrize("path", sorted(FOLDER.glob("fixtures/*.json")), ids=lambda p: p.stem)
def test_every_fixture_and_example_is_valid_against_schema_json(path: Path):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    for example in SCHEMA["examples"]:
        jsonschema.validate(example, SCHEMA)


def test_the_readme_signer_reproduces_the_standard_webhooks_vector():
    signer = next(block for block in re.findall(r"```python\n(.*?)```", README, re.DOTALL) if "def sign" in block)
    namespace: dict = {}
    exec(signer, namespace)
    headers = namespace["sign"](b'{"test": 2432232314}', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_readme_curl_example_awards_on_the_sandbox(harness):
    body = re.search(r"-d '(\{.*?\})'", README).group(1)
    connection = connect(harness)
    assert post(harness, connection, body).status_code == 202
    harness.drain()
    assert harness.ledger()[0]["points"] == 19
