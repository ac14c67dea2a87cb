"""The public claim page in a real headless Chromium at phone width, against
the real embedded bridge (worker threads, the sandbox core on the same port)."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import expect

from bridge import connections, registry
from bridge.store.tables import utcnow
from tests.dashboard.conftest import open_page
from tests.dashboard.live import SIGNING_KEY
from tests.support import fixture_bytes

PHONE = {"width": 375, "height": 740}


def _anonymous_sale(live, connection_id: str) -> None:
    """A completed Square payment of $19.99 (+ $3 tip) that names nobody, made today."""
    document = json.loads(fixture_bytes("square", "payment.updated.completed"))
    document["event_id"] = str(uuid.uuid4())
    payment = document["data"]["object"]["payment"]
    payment.update(id=f"pay{uuid.uuid4().hex[:12]}", buyer_email_address=None, receipt_number="Q7rT",
                   created_at=utcnow().isoformat().replace("+00:00", "Z"))
    body = json.dumps(document).encode()
    url = connections.webhook_url(live.url, connection_id)
    response = live.http.post(url, content=body, headers=registry.get("square").sign(body, url, SIGNING_KEY))
    assert response.status_code == 202, response.text


def test_a_customer_claims_a_cash_sale_from_the_receipt_on_a_phone(browser, live):
    shop = connections.create(live.db, vendor="square", name="Harbour Cafe", target="xtarly",
                              target_url=f"{live.url}/sandbox/xtarly", target_key="xtarly_pos_demo",
                              signing_keys=[SIGNING_KEY], allow_private_targets=True,
                              settings={"claims": "on", "claim_slug": "harbour-cafe"}).row
    _anonymous_sale(live, shop.id)
    live.wait_for("unmatched", 1)

    context, page = open_page(browser, live, **PHONE)
    page.goto("/claim/harbour-cafe")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Harbour Cafe")
    page.get_by_label("Receipt number").fill("Q7rT")
    page.get_by_label("Date of the receipt").fill(utcnow().date().isoformat())
    page.get_by_label("Total paid").fill("22.99")
    page.get_by_label("Email").fill("alice@example.com")
    button = page.get_by_role("button", name="Claim my points")
    box = button.bounding_box()
    assert box["width"] <= PHONE["width"] and box["height"] >= 44  # a thumb-sized target that fits
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    button.click()
    expect(page.get_by_role("status")).to_contain_text("+19 points")
    expect(page.get_by_role("status")).to_contain_text("balance is now 19")
    [award] = live.ledger()
    assert award["customer_id"] == "cus_alice" and award["amount"] == 1999
    live.wait_for("delivered", 1)

    # The same receipt again: nothing more, and the page says so in plain words.
    page.goto("/claim/harbour-cafe")
    page.get_by_label("Receipt number").fill("Q7rT")
    page.get_by_label("Date of the receipt").fill(utcnow().date().isoformat())
    page.get_by_label("Total paid").fill("22.99")
    page.get_by_label("Or phone number").fill("+61400111222")
    page.get_by_role("button", name="Claim my points").click()
    expect(page.get_by_role("status")).to_contain_text("could not find a receipt")
    assert len(live.ledger()) == 1
    context.close()


def test_the_form_shows_what_to_fix_next_to_the_field(browser, live):
    connections.create(live.db, vendor="square", name="Harbour Cafe", target="xtarly",
                       target_url=f"{live.url}/sandbox/xtarly", target_key="xtarly_pos_demo",
                       signing_keys=[SIGNING_KEY], allow_private_targets=True,
                       settings={"claims": "on", "claim_slug": "harbour-cafe"})
    context, page = open_page(browser, live, **PHONE)
    page.goto("/claim/harbour-cafe")
    page.get_by_label("Receipt number").fill("Q7rT")
    page.get_by_label("Total paid").fill("12,50")
    page.get_by_role("button", name="Claim my points").click()
    expect(page.get_by_role("alert")).to_contain_text("check the fields")
    expect(page.locator("#amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#amount-error")).to_contain_text("decimal number")
    expect(page.locator("#email-error")).to_contain_text("one of email, phone or card")
    expect(page.get_by_label("Receipt number")).to_have_value("Q7rT")
    context.close()
