"""The console in a real headless browser (Debian's chromium) against the real local stack.

The whole flow a campaign runner or support person goes through, with the keyboard where it
matters, and the API's error messages shown next to the field they name. A screenshot of the
finished flow is kept in build/console/ (git-ignored), the source of docs/console.png.
"""

import csv
import io
import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from fccodes import api

from .conftest import APP_KEY

# A headless Chromium against the whole local stack: seconds apiece.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "console"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The closed network stalls a chromium that phones home: everything optional is off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is needed (apt-get install chromium; .ci/run installs it)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
            accept_downloads=True,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation
    yield page
    page.close()
    assert not errors, errors


def error_of(page, field_id):
    """The error shown next to a field; the field is marked invalid."""
    expect(page.locator("#" + field_id)).to_have_attribute("aria-invalid", "true")
    return page.locator("#%s-error" % field_id)


def test_the_whole_flow(stack, page):
    page.goto(stack.url + "/console")
    expect(page.get_by_role("heading", name="fc-codes console")).to_be_visible()
    # Without a key, the admin action is refused and the key field says so.
    page.get_by_label("Count").fill("3")
    page.get_by_role("button", name="Generate").click()
    expect(error_of(page, "app-key")).to_contain_text("UNAUTHORIZED")
    expect(page.locator("#app-key")).to_be_focused()
    # The key, typed and kept with the keyboard; only sessionStorage holds it.
    page.keyboard.type(APP_KEY)
    page.keyboard.press("Enter")
    expect(page.locator("#key-status")).to_have_text("A key is kept for this tab.")
    assert page.evaluate("sessionStorage.getItem('fc-codes-app-key')") == APP_KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    # The API's own message, next to the field it names.
    page.get_by_label("Count").fill("0")
    page.get_by_role("button", name="Generate").click()
    expect(error_of(page, "gen-count")).to_have_text(
        # The stack's MAX_CODES_PER_BATCH (tests/api/conftest.py): above 10,000 codes a batch
        # is generated asynchronously.
        "count: must be an integer from 1 to 10500 (INVALID_REQUEST)"
    )
    page.get_by_label("Prefix (optional)").fill("VIP")
    page.get_by_label("Count").fill("3")
    page.get_by_role("button", name="Generate").click()
    expect(error_of(page, "gen-prefix")).to_contain_text("prefix: must be 1-8 symbols")
    expect(page.locator("#gen-count-error")).to_be_empty()
    # A batch.
    page.get_by_label("Prefix (optional)").fill("beta")
    page.get_by_label("Batch label (optional)").fill("spring-launch")
    page.get_by_label("Uses per code").fill("1")
    page.get_by_label("Valid until (optional, your time zone)").fill("2099-12-31T00:00:00")
    page.get_by_role("button", name="Generate").click()
    result = page.locator("#generate-result")
    expect(result.get_by_role("heading")).to_have_text("Batch spring-launch")
    codes = result.locator("ol.codes li").all_text_contents()
    assert len(codes) == 3 and all(c.startswith("BETA-") for c in codes)
    with page.expect_download() as download:
        page.locator("#generate-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["code"] for r in rows] == codes
    assert {r["batch"] for r in rows} == {"spring-launch"}
    assert rows[0]["valid_until"].startswith("2099-12-3")
    # Look it up with the keyboard: Enter submits the form's first button (Look up).
    page.get_by_label("Code", exact=True).fill(codes[0].lower().replace("-", " "))
    page.get_by_label("Code", exact=True).press("Enter")
    expect(page.locator("#code-result h3")).to_have_text(codes[0] + ": UNUSED")
    # Redeem it for a user (support staff), then someone else cannot.
    page.get_by_label("User id (to redeem for)").fill("player-42")
    page.get_by_role("button", name="Redeem for the user").click()
    expect(page.locator("#code-result h3")).to_have_text("Redeemed: " + codes[0])
    page.get_by_role("button", name="Redeem for the user").click()
    expect(page.locator("#code-result h3")).to_have_text(
        "Already redeemed by this user: " + codes[0]
    )
    page.get_by_label("User id (to redeem for)").fill("player-7")
    page.get_by_role("button", name="Redeem for the user").click()
    expect(error_of(page, "code")).to_have_text("code has already been used (CODE_ALREADY_USED)")
    # A mistyped code never reaches the store; the message sits by the code field.
    page.get_by_label("Code", exact=True).fill(
        codes[1][:-1] + ("A" if codes[1][-1] != "A" else "B")
    )
    page.get_by_role("button", name="Look up").click()
    expect(error_of(page, "code")).to_contain_text("(INVALID_CODE)")
    # Delete one (the confirmation is accepted), then it is gone.
    page.get_by_label("Code", exact=True).fill(codes[1])
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#code-result h3")).to_have_text("Deleted: " + codes[1])
    page.get_by_role("button", name="Look up").click()
    expect(error_of(page, "code")).to_have_text("no such code (CODE_NOT_FOUND)")
    # The state the screenshot shows: a batch, and a code looked up.
    page.get_by_label("Code", exact=True).fill(codes[2])
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#code-result h3")).to_have_text(codes[2] + ": UNUSED")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
    # Forgetting the key forgets it.
    page.get_by_role("button", name="Forget").click()
    assert page.evaluate("sessionStorage.getItem('fc-codes-app-key')") is None


def test_a_big_batch_is_followed_and_exported_under_batches(stack, page):
    """Above MAX_CODES_PER_REQUEST the answer is 202: the console says so, puts the label in
    the batch form, whose Show follows the progress until READY; Export then has every code."""
    page.goto(stack.url + "/console")
    page.get_by_label("App key or AppCode (kept only in this tab)").fill(APP_KEY)
    page.get_by_role("button", name="Keep for this tab").click()
    page.get_by_label("Count").fill("10001")
    page.get_by_label("Batch label (optional)").fill("big-launch")
    page.get_by_role("button", name="Generate").click()
    heading = page.locator("#generate-result h3")
    expect(heading).to_have_text("Batch big-launch is being generated")
    expect(page.get_by_label("Batch label", exact=True)).to_have_value("big-launch")
    status = page.locator("#batch-result tr", has_text="generation status")
    for _ in range(60):
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#batch-result h3")).to_have_text("Batch big-launch")
        if status.inner_text().endswith("READY"):
            break
        page.wait_for_timeout(500)
    expect(status).to_contain_text("READY")
    page.get_by_role("button", name="Export as CSV").click()
    with page.expect_download() as download:
        page.locator("#batch-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len({r["code"] for r in rows}) == 10001


def test_the_key_can_be_sent_as_an_appcode(stack, page):
    """What a deployed console sends to API Gateway (simple authentication)."""
    page.goto(stack.url + "/console")
    page.get_by_label("Send it as").select_option("appcode")
    page.get_by_label("App key or AppCode (kept only in this tab)").fill(APP_KEY)
    page.get_by_role("button", name="Keep for this tab").click()
    with page.expect_request("**/codes") as sent:
        page.get_by_label("Count").fill("1")
        page.get_by_role("button", name="Generate").click()
    assert sent.value.headers["authorization"] == "APPCODE " + APP_KEY
    assert "x-ca-key" not in sent.value.headers
    expect(page.locator("#generate-result ol.codes li")).to_have_count(1)


def test_every_input_has_a_label_and_every_error_slot_is_announced(stack, page):
    page.goto(stack.url + "/console")
    fields = page.locator("input, textarea, select").all()
    assert len(fields) >= 12
    for field in fields:
        field_id = field.get_attribute("id")
        assert page.locator("label[for='%s']" % field_id).count() == 1, field_id
        described = field.get_attribute("aria-describedby")
        if field_id not in ("key-scheme", "api-base"):  # nothing the API can say about them
            assert page.locator("#%s[role=alert]" % described).count() == 1, field_id


def test_the_reference_page_renders_every_operation_offline(stack, page):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(stack.url + "/docs")
    expect(page.locator(".opblock")).to_have_count(len(api.OPERATIONS))
    assert all(url.startswith(stack.url) for url in requests), requests


def test_what_the_console_offers_follows_the_document(stack, page):
    """Controls for routes the document does not declare are hidden, the others shown."""
    document = stack.request("GET", "/openapi.json").json()
    page.goto(stack.url + "/console")
    page.wait_for_load_state("networkidle")
    needs = page.locator("[data-needs]")
    assert needs.count() >= 5
    for i in range(needs.count()):
        element = needs.nth(i)
        method, path = element.get_attribute("data-needs").split(" ")
        declared = method.lower() in document["paths"].get(path, {})
        assert element.is_hidden() != declared, (method, path)


def test_the_reference_page_tries_an_operation_against_this_stack(stack, page):
    """Swagger UI's "Try it out" reaches this stack (the document's server is the address used)."""
    page.goto(stack.url + "/docs")
    block = page.locator("#operations-codes-query")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.locator("input[placeholder='code']").fill("7K3M-Q9XD-2FHN-W4TX")
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("404")
    expect(block.locator(".live-responses-table")).to_contain_text("CODE_NOT_FOUND")


def test_a_service_that_does_not_answer_is_said_so_not_a_blank_page(stack, page):
    page.goto(stack.url + "/console")
    page.route("**/codes/**", lambda route: route.abort("connectionrefused"))
    page.get_by_label("Code", exact=True).fill("7K3M-Q9XD-2FHN-W4TX")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#code-form-error")).to_contain_text("the service did not answer")
    expect(page.locator("#code-form-error")).to_contain_text("(NETWORK)")


# The campaign routes the console's batch section uses (shown only when the document has them).
BATCH_ROUTES = (
    ("get", "/batches/{batch}"),
    ("get", "/batches/{batch}/codes"),
    ("post", "/batches/{batch}/disable"),
    ("post", "/batches/{batch}/enable"),
)


def batch_flow(page, url):
    """Generate a batch with metadata, show it with its figures, export every code as CSV,
    switch it off and on, and find the API's error by the batch field."""
    page.goto(url + "/console")
    page.get_by_label("App key or AppCode (kept only in this tab)").fill(APP_KEY)
    page.get_by_role("button", name="Keep for this tab").click()
    expect(page.locator("#batch-section")).to_be_visible()
    label = "campaign-%d" % int(time.time() * 1000)
    page.get_by_label("Count").fill("3")
    page.get_by_label("Batch label (optional)").fill(label)
    page.get_by_label("Metadata (optional, a JSON object)").fill('{"campaign": "spring"}')
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generate-result h3")).to_have_text("Batch " + label)
    codes = page.locator("#generate-result ol.codes li").all_text_contents()
    page.get_by_label("Batch label", exact=True).fill(label)
    page.get_by_role("button", name="Show").click()
    result = page.locator("#batch-result")
    expect(result.locator("h3")).to_have_text("Batch " + label)
    expect(result).to_contain_text("figures unused")
    expect(result).to_contain_text("spring")
    page.get_by_role("button", name="Export as CSV").click()
    with page.expect_download() as download:
        page.locator("#batch-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(r["code"] for r in rows) == sorted(codes)
    page.get_by_role("button", name="Switch off").click()
    expect(result.locator("h3")).to_have_text(label + ": DISABLED")
    page.get_by_role("button", name="Switch on").click()
    expect(result.locator("h3")).to_have_text(label + ": ACTIVE")
    page.get_by_label("Batch label", exact=True).fill(label + "-nope")
    page.get_by_role("button", name="Show").click()
    expect(error_of(page, "batch")).to_contain_text("(BATCH_NOT_FOUND)")


def test_a_campaign_batch_is_shown_exported_and_switched_off(stack, page):
    """Runs the batch flow once the API declares the batch routes; until then the section must
    stay hidden (test_what_the_console_offers_follows_the_document checks every control)."""
    paths = stack.request("GET", "/openapi.json").json()["paths"]
    if not all(method in paths.get(path, {}) for method, path in BATCH_ROUTES):
        page.goto(stack.url + "/console")
        page.wait_for_load_state("networkidle")
        assert page.locator("#batch-section").is_hidden()
        return
    batch_flow(page, stack.url)
