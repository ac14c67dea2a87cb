"""Going live from the dashboard, in a real headless Chromium against the real
embedded bridge: the connection page's Check and Test buttons, the setup steps
with the connection's own URL, and the state badge."""

from __future__ import annotations

from playwright.sync_api import expect

from bridge import connections


def test_check_shows_the_checklist_and_test_shows_the_points(live, page):
    shop = live.connection("Go Live Cafe", "xtarly_pos_demo")
    page.get_by_role("link", name="Connections").click()
    page.locator(f"[data-connection='{shop.id}']").get_by_role("link", name="Set up, check & test").click()
    expect(page.locator("h1")).to_contain_text("Go Live Cafe")

    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("check-summary")).to_have_text(
        "Every check passed: the connection is ready for a test transaction.")
    core = page.locator("[data-check='loyalty_core']")
    expect(core).to_contain_text("✓")
    expect(core).to_contain_text("accepted the key")
    expect(page.locator("[data-check]").first).to_be_visible()
    assert page.locator(".checklist .check-bad").count() == 0

    page.fill("input[name=customer]", "alice@example.com")
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-result")).to_have_text("✓ Delivered: 1 point(s) earned, new balance 1.")
    [test_event] = live.events()
    assert test_event["source"] == "test"
    page.get_by_role("link", name=f"Event {test_event['id']}").click()
    expect(page.locator("h1")).to_contain_text(str(test_event["id"]))


def test_a_rejected_key_fails_the_check_with_its_fix_and_an_unknown_customer_is_reported(live, page):
    shop = live.connection("Wrong Key Bakery", "xtarly_pos_wrong")
    page.goto(f"/admin/connections/{shop.id}")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("check-summary")).to_contain_text("Not ready")
    core = page.locator("[data-check='loyalty_core']")
    expect(core).to_contain_text("✗")
    expect(core.locator(".fix")).to_contain_text(f"bridge connections rotate-key {shop.id} --target-key KEY")

    good = live.connection("Right Key Bakery", "xtarly_pos_demo")
    page.goto(f"/admin/connections/{good.id}")
    page.fill("input[name=customer]", "nobody-here@example.com")
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("✗ Not awarded (unmatched)")
    expect(page.get_by_test_id("test-result")).to_contain_text("404")


def test_the_state_badge_reads_waiting_then_receiving_after_a_signed_sale(live, page):
    shop = live.connection("Badge Diner", "xtarly_pos_demo")
    page.get_by_role("link", name="Connections").click()
    card = page.locator(f"[data-connection='{shop.id}']")
    expect(card.locator("[data-state]")).to_have_text("waiting")
    page.goto(f"/admin/connections/{shop.id}")
    expect(page.locator("h1 [data-state]")).to_have_text("waiting")
    expect(page.get_by_test_id("state-fix")).to_contain_text(connections.webhook_url(live.url, shop.id))

    live.post_sale(shop.id, 1)
    page.reload()
    expect(page.locator("h1 [data-state]")).to_have_text("receiving")
    expect(page.get_by_test_id("state-fix")).to_have_count(0)
    page.get_by_role("link", name="Connections").first.click()
    expect(page.locator(f"[data-connection='{shop.id}'] [data-state]")).to_have_text("receiving")


def test_the_setup_steps_come_from_the_merchant_guide_with_the_url_filled_in(live, page):
    shop = live.connection("Steps Cafe", "xtarly_pos_demo")
    page.goto(f"/admin/connections/{shop.id}")
    steps = page.locator(".setup .steps")
    url = connections.webhook_url(live.url, shop.id)
    expect(steps).to_contain_text("Webhooks → Subscriptions → Add subscription")
    expect(steps).to_contain_text(url)
    expect(steps).not_to_contain_text("YOUR-BRIDGE")
    expect(page.locator(f"#url-{shop.id}")).to_have_value(url)


def test_the_buttons_routes_need_the_pages_csrf_token(live, page):
    shop = live.connection("Csrf Cafe", "xtarly_pos_demo")
    # Signed in (the page's cookie), but without the page's X-CSRF-Token: refused, nothing sent.
    answer = page.request.post(f"/admin/connections/{shop.id}/test", data={"customer": "alice@example.com"})
    assert answer.status in (400, 403), answer.status
    assert live.events() == []
    signed_out = live.http.post(f"{live.url}/admin/connections/{shop.id}/check", json={})
    assert signed_out.status_code in (302, 401, 403)
