"""The staff page in a real browser: headless Chromium (Debian's) opens a Dutch and a German
debtor, and shows the message, the trace and the QR code; screenshots are kept for a person."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.api.conftest import NOW, TOKENS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Read at import: the autouse `clean_environ` fixture removes PAYJOURNEY_* before each test.
SCREENSHOTS = os.environ.get("PAYJOURNEY_SCREENSHOTS")


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true needs the browser test to run")
        pytest.skip(reason)
    return CHROMIUM


def screenshots(tmp_path: Path) -> Path:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_staff_see_the_message_the_trace_and_the_qr_code(
    chromium: str, server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{server}/preview/C-DE")
        expect(page).to_have_url(f"{server}/login?next=/preview/C-DE")
        page.fill("input[name=token]", TOKENS["preview"][0])
        page.click("button[type=submit] >> text=Sign in")

        now = NOW.replace("+", "%2B")
        # German consumer: the first reminder by email, in a sandboxed frame
        page.goto(f"{server}/preview/C-DE?now={now}")
        expect(page.locator("h1")).to_contain_text("Max Müller")
        frame = page.frame_locator("iframe.email")
        expect(frame.locator("body")).to_contain_text("Max Müller")
        expect(page.locator("#trace")).to_contain_text("personas.yaml")
        qr = page.locator("img.qr").first
        expect(qr).to_be_visible()
        assert qr.evaluate("img => img.naturalWidth") > 0
        page.screenshot(path=str(screenshots(tmp_path) / "preview-de.png"), full_page=True)

        # search by name, then the Dutch consumer's 14-day letter
        page.fill("input[name=q]", "de vries")
        page.press("input[name=q]", "Enter")
        page.click("text=C-NL")
        page.goto(f"{server}/preview/C-NL?now={now}")
        expect(page.locator("#message")).to_contain_text("letter")
        expect(page.locator("#letter-text")).to_contain_text("Hoi Jan,")
        expect(page.locator("object.letter")).to_have_attribute("type", "application/pdf")
        pdf = page.request.get(server + str(page.locator("#letter-pdf").get_attribute("href")))
        assert pdf.ok and pdf.body().startswith(b"%PDF-")
        expect(page.locator("#trace")).to_contain_text("steps[")
        assert page.locator("img.qr").first.evaluate("img => img.naturalWidth") > 0
        page.screenshot(path=str(screenshots(tmp_path) / "preview-nl.png"), full_page=True)
        browser.close()
