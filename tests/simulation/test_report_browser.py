"""The simulation report in a real browser with the network cut off: every chart renders from
the file alone (plotly's JavaScript is inside it); the screenshot is kept for a person."""

from __future__ import annotations

from pathlib import Path

from engine.simulation.compare import Comparison
from engine.simulation.report import write_report
from tests.api.test_browser import chromium, screenshots  # noqa: F401  (the fixture)


def test_the_report_opens_offline_and_draws_its_charts(
    chromium: str,  # noqa: F811
    three_rule_sets: Comparison,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    page_file, _ = write_report(three_rule_sets, tmp_path / "report")
    asked: list[str] = []

    def offline(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith("file:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            asked.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.route("**/*", offline)
        page.goto(page_file.as_uri())
        expect(page.locator(".headline")).to_contain_text("DSO")
        plots = page.locator(".js-plotly-plot")
        expect(plots).to_have_count(3)  # portfolio, payment curves, channels
        for n in range(3):
            expect(plots.nth(n).locator(".main-svg").first).to_be_visible()
        # the curves are drawn: one line per rule set in the first panel at least
        assert page.locator("#curves .scatterlayer .trace").count() >= 3
        # bars of the portfolio chart are drawn
        assert page.locator(".barlayer .point").count() > 0
        page.screenshot(path=str(screenshots(tmp_path) / "simulation-report.png"), full_page=True)
        browser.close()
    assert asked == [], f"the report asked the network for {asked}"
