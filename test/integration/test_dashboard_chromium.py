"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against real
nodes: load the page, send utterances, then check in the DOM that the table and the chart
show them. The screenshot is kept in test-artifacts/dashboard.png (gitignored)."""
import shutil
from pathlib import Path

import pytest
from http_stack import HttpStack

from claudia_llm.http.app import STATIC

pytestmark = pytest.mark.ros

ARTIFACTS = Path(__file__).resolve().parents[2] / 'test-artifacts'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']


@pytest.fixture
def chromium_path():
    path = shutil.which('chromium')
    if path is None:
        pytest.fail('chromium not found (scripts/install_system_deps.sh installs it)')
    if not (STATIC / 'vendor' / 'chart.umd.js').is_file():
        pytest.fail('chart.js not vendored: run scripts/fetch_web_assets.sh (make setup does)')
    return path


@pytest.fixture
def stack(redis_server, ollama_server):
    s = HttpStack(redis_server.url, ollama_server.url)
    try:
        s.wait_until_bridged()
        yield s
    finally:
        s.close()


def test_the_dashboard_shows_utterances_in_the_table_and_the_chart(stack, chromium_path,
                                                                   tmp_path):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / 'profile'), executable_path=chromium_path, headless=True,
            args=CHROMIUM_FLAGS, viewport={'width': 1400, 'height': 1000})
        try:
            page = browser.new_page()
            errors = []
            page.on('pageerror', lambda exc: errors.append(str(exc)))
            page.goto(stack.url + '/', wait_until='load')
            page.wait_for_selector('body[data-ready="1"]', timeout=15000)
            page.wait_for_selector('#connection.ok', timeout=15000)
            page.fill('#say-text', '座って')  # as a user would: the page's own form
            page.click('#say button')
            for text in ('stand up', '止まれ！', '伏せて'):  # and from another client
                assert stack.say(text).status_code == 200
            for text in ('座って', 'stand up', '止まれ！', '伏せて'):
                page.wait_for_function(
                    '(t) => [...document.querySelectorAll("#utterances tbody tr")]'
                    '.some((r) => r.cells[1].textContent === t)', arg=text, timeout=15000)
            row = page.locator('#utterances tbody tr', has_text='座って').first
            assert row.locator('td').nth(3).inner_text() == 'Sit'
            assert row.locator('td').nth(4).inner_text() == 'exact'
            # Chart: points arrive with the stats events (every 0.5 s here).
            page.wait_for_function(
                '() => { const c = window.claudiaDashboard.chart; return c && '
                'c.data.datasets.find((d) => d.label === "exact p50").data'
                '.some((v) => v !== null) && c.data.datasets.find((d) => '
                'd.label === "emergency p50").data.some((v) => v !== null); }',
                timeout=15000)
            page.wait_for_timeout(600)  # one more point, so the lines are drawn
            assert page.locator('#health-redis').inner_text().startswith('OK')
            assert page.locator('#queue-depth').inner_text() == '0'
            assert errors == []
            page.screenshot(path=str(ARTIFACTS / 'dashboard.png'), full_page=True)
        finally:
            browser.close()
