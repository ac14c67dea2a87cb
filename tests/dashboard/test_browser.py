"""The dashboard in a real headless Chromium against the real embedded bridge:
what support staff do when a merchant calls."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from bridge import connections
from tests.dashboard.conftest import open_page, sign_in
from tests.dashboard.live import TOKEN, wait_until


def test_sign_in_with_the_token_then_log_out(browser, live):
    context, page = open_page(browser, live)
    page.goto("/admin/events?status=failed")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.fill("input[name=token]", "not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    page.fill("input[name=token]", TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/events\?status=failed$"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    context.close()


def test_find_a_failed_sale_by_email_fix_the_key_and_replay_it(live, page):
    shop = live.connection("Harbour Cafe", "xtarly_pos_noprogram")
    live.post_sale(shop.id, 1, email="bob@example.com")
    live.post_sale(shop.id, 2)  # Alice's
    live.wait_for("failed", 2)

    page.get_by_role("link", name="Events").click()
    page.fill("input[name=email]", "Alice@Example.com")
    page.select_option("select[name=status]", "failed")
    page.get_by_role("button", name="Search").click()
    rows = page.locator(".event-row")
    expect(rows).to_have_count(1)
    rows.first.locator("a").click()
    expect(page.get_by_test_id("reason")).to_contain_text("Xtarly answered 400 BAD_REQUEST")
    expect(page.locator(".transaction")).to_contain_text("19.99 USD")
    expect(page.locator(".transaction")).to_contain_text("alice@example.com")
    expect(page.locator(".attempt")).to_have_count(1)
    event_url = page.url

    page.get_by_role("link", name="Connections").click()
    card = page.locator(f"[data-connection='{shop.id}']")
    card.get_by_text("Rotate a key").click()
    card.locator("select[name=kind]").select_option("target_key")
    card.locator("input[name=value]").fill("xtarly_pos_demo")
    card.get_by_role("button", name="Rotate").click()
    expect(page.locator(".flash-ok")).to_contain_text("replaced")
    expect(page.locator(f"[data-connection='{shop.id}']")).to_contain_text("…demo")

    page.goto(event_url)
    page.get_by_role("button", name="Replay", exact=True).click()
    expect(page.locator(".flash-ok")).to_contain_text("Replay requested")
    # The page follows the event by itself until it settles.
    expect(page.locator(".why .badge-delivered")).to_be_visible(timeout=20_000)
    expect(page.locator(".attempt")).to_have_count(2)
    expect(page.locator(".attempt.outcome-delivered")).to_contain_text("HTTP 200")
    assert [(entry["customer_id"], entry["points"]) for entry in live.ledger()] == [("cus_alice", 19)]


def test_bulk_replay_of_30_failed_events_shows_progress_to_100_percent(live, page):
    shop = live.connection("Outage Shop", "xtarly_pos_noprogram")
    for number in range(30):
        live.post_sale(shop.id, number)
    live.wait_for("failed", 30)
    connections.rotate(live.db, shop.id, target_key="xtarly_pos_demo")
    live.sandbox_fault(api="xtarly", delay=0.1, count=30)  # slow enough to watch

    page.get_by_role("link", name="Bulk replay").click()
    page.select_option("select[name=connection_id]", shop.id)
    expect(page.locator("select[name=status]")).to_have_value("failed")
    page.get_by_role("button", name="Count matching events").click()
    expect(page.locator(".match-count")).to_have_text("30 events match")
    page.get_by_role("button", name="Replay 30 events").click()

    expect(page).to_have_url(re.compile(r"/admin/replays/\d+$"))
    expect(page.locator("[data-field=status]")).to_have_text("running")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator("[data-field=percent]")).to_have_text("100 %", timeout=60_000)
    expect(page.locator("[data-field=summary]")).to_have_text("Finished: 30 replayed, 0 failed.")
    expect(page.locator("[data-field=done]")).to_have_text("30")
    expect(page.locator("[data-field=remaining]")).to_have_text("0")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert len(live.events("delivered", shop.id)) == 30
    assert len(live.ledger()) == 30


def test_a_bulk_replay_can_be_cancelled_from_its_progress_page(live, page):
    shop = live.connection("Slow Shop", "xtarly_pos_noprogram")
    for number in range(20):
        live.post_sale(shop.id, number)
    live.wait_for("failed", 20)
    connections.rotate(live.db, shop.id, target_key="xtarly_pos_demo")
    live.sandbox_fault(api="xtarly", delay=0.5, count=20)

    page.goto(f"/admin/replays?connection_id={shop.id}&status=failed")
    page.get_by_role("button", name="Count matching events").click()
    page.get_by_role("button", name="Replay 20 events").click()
    expect(page.locator("[data-field=status]")).to_have_text("running")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-field=status]")).to_have_text("cancelled")
    summary = page.locator("[data-field=summary]").inner_text()
    assert re.fullmatch(r"Cancelled: \d+ replayed, 0 failed, \d+ not replayed\.", summary.strip()), summary
    replayed = int(re.search(r"(\d+) replayed", summary).group(1))
    assert replayed < 20
    wait_until(lambda: len(live.ledger()) >= replayed, message="the replayed events' awards")


def test_overview_shows_each_connections_counts_and_last_error(live, page):
    good = live.connection("Good Shop", "xtarly_pos_demo")
    broken = live.connection("Broken Shop", "xtarly_pos_noprogram")
    live.post_sale(good.id, 1)
    live.post_sale(good.id, 2)
    live.post_sale(good.id, 3, email="stranger@example.com")  # Xtarly: 404, unmatched
    live.post_sale(broken.id, 4)
    live.wait_for("delivered", 2, good.id)
    live.wait_for("unmatched", 1, good.id)
    live.wait_for("failed", 1, broken.id)

    page.reload()
    good_card = page.locator(f".connection-summary[data-connection='{good.id}']")
    broken_card = page.locator(f".connection-summary[data-connection='{broken.id}']")
    for card, expected in ((good_card, {"received": "3", "delivered": "2", "failed": "0", "unmatched": "1"}),
                           (broken_card, {"received": "1", "delivered": "0", "failed": "1", "unmatched": "0"})):
        for name, value in expected.items():
            expect(card.locator(f"[data-count={name}]")).to_have_text(value)
        expect(card.locator("[data-status]")).to_have_text("active")
    expect(good_card.locator(".last-error")).to_contain_text("404 NOT_FOUND")
    broken_card.locator(".last-error a").click()
    expect(page.get_by_test_id("reason")).to_contain_text("BAD_REQUEST")
    page.go_back()
    good_card.locator("[data-count=delivered]").click()
    expect(page.locator(".event-row")).to_have_count(2)


def test_create_a_connection_from_the_page_copy_its_url_and_pause_it(browser, live):
    context, page = open_page(browser, live)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    sign_in(page)
    page.get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="New connection").click()
    page.fill("input[name=name]", "Corner Store")
    page.fill("input[name=target_url]", f"{live.url}/sandbox/xtarly")
    page.fill("input[name=target_key]", "xtarly_pos_demo")
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("alert")).to_contain_text("Square signs its webhooks")

    page.select_option("select[name=vendor]", "generic")
    page.fill("input[name=target_key]", "xtarly_pos_demo")
    page.get_by_role("button", name="Create connection").click()
    expect(page.locator("h1")).to_have_text("“Corner Store” is ready")
    url = page.locator("#webhook-url").input_value()
    assert re.fullmatch(rf"{re.escape(live.url)}/hooks/con_\w+", url), url
    secret = page.locator("#signing-secret").input_value()
    [row] = connections.list_rows(live.db)
    assert url == connections.webhook_url(live.url, row.id)
    assert connections.context(live.db, row).signing_keys == (secret,)
    page.locator("[data-copy='#webhook-url']").click()
    expect(page.locator("[data-copy='#webhook-url']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url

    page.get_by_role("link", name="Go to connections").click()
    card = page.locator(f"[data-connection='{row.id}']")
    expect(card.locator("input[readonly]")).to_have_value(url)
    assert secret not in page.content()  # shown once, on creation only
    card.get_by_role("button", name="Pause").click()
    expect(card.locator("[data-status]")).to_have_text("paused")
    card.get_by_role("button", name="Resume").click()
    expect(card.locator("[data-status]")).to_have_text("active")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Disable").click()
    expect(card.locator("[data-status]")).to_have_text("disabled")
    assert live.http.post(url, content=b"{}", headers={"Content-Type": "application/json"}).status_code == 404
    context.close()


def test_pages_fit_a_375_px_phone_without_horizontal_scroll(browser, live):
    shop = live.connection("A shop with a rather long name for a small phone screen", "xtarly_pos_noprogram")
    live.post_sale(shop.id, 1)
    [event] = live.wait_for("failed", 1) and live.events("failed")
    context, page = open_page(browser, live, width=375, height=812)
    sign_in(page)
    page.goto("/admin/replays?status=failed")
    page.get_by_role("button", name="Count matching events").click()
    page.get_by_role("button", name="Replay 1 event").click()
    expect(page.locator("[data-field=status]")).not_to_have_text("running", timeout=20_000)
    job_url = page.url
    for path in ("/admin/", "/admin/events", f"/admin/events/{event['id']}", "/admin/connections",
                 f"/admin/connections/{shop.id}", "/admin/connections/new", "/admin/replays", job_url,
                 "/admin/events/424242"):
        page.goto(path)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} scrolls sideways at 375 px: {widths}"
    page.get_by_role("button", name="Log out").click()
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the login page scrolls sideways at 375 px: {widths}"
    context.close()
