"""The static site in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by selenium, opening file:// pages, nothing fetched.

The site is built once from the committed ``leaderboards/`` into a tmp folder; then every
page (the index and one page per committed board) is opened and must show no console error
(SEVERE log entry: a script error, a figure that does not load ...), every image must have
loaded, and every sortable table must sort: clicking a numeric column's header orders its
rows ascending (each row kept whole), clicking again descending. A full-page screenshot of
each page is kept in ``site-artifacts/<page>.png`` at the repository root (git-ignored).

When chromium or chromedriver is missing, the set-up installs them with apt-get (as root, or
through ``sudo -n``) instead of skipping; where neither can, the test fails saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from perloc.bench.report.site import build_site

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "leaderboards"
ARTIFACTS = REPO / "site-artifacts"
PAGES = ["index", *sorted(path.stem for path in BOARDS.glob("*.json"))]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH = 1400


def install_chromium() -> None:
    """apt-get install chromium and chromium-driver unless both are there."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        pytest.fail("chromium/chromium-driver are missing and this user can neither run "
                    "apt-get (not root) nor sudo: `apt-get install chromium chromium-driver`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
        done = subprocess.run([*prefix, *command], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}): "
                        f"{done.stderr.strip()[-800:]}")
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "apt-get installed no chromium"


@pytest.fixture(scope="module")
def browser():
    install_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={WIDTH},1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site of the committed boards (no run records: keys shown without links)."""
    root = tmp_path_factory.mktemp("site")
    build_site(BOARDS, root / "results" / "runs", root / "site")
    ARTIFACTS.mkdir(exist_ok=True)
    return root / "site"


COLUMN = """
const [table, index] = arguments;
return Array.from(table.tBodies[0].rows, row => [row.textContent,
                                               row.cells[index].getAttribute('data-v')]);
"""


def _check_sorting(browser, table) -> int:
    """Click each numeric header whose column is not already ascending (at most two per
    table): ascending, then descending; rows stay whole. Returns the headers clicked."""
    headers = table.find_elements("css selector", "thead th")
    clicked = 0
    for index, header in enumerate(headers):
        if header.get_attribute("data-type") != "num" or clicked == 2:
            continue
        before = browser.execute_script(COLUMN, table, index)
        numbers = [float(v) for _, v in before if v is not None]
        if numbers == sorted(numbers):
            continue
        for direction in ("ascending", "descending"):
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", header)
            header.click()
            after = browser.execute_script(COLUMN, table, index)
            values = [float(v) for _, v in after if v is not None]
            assert values == sorted(values, reverse=direction == "descending"), header.text
            assert all(v is None for _, v in after[len(values):]), "N/A rows must come last"
            assert sorted(after, key=str) == sorted(before, key=str), "rows changed"
            assert header.get_attribute("aria-sort") == direction
        clicked += 1
    return clicked


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_sorts_and_is_kept_as_screenshot(browser, site, page):
    browser.set_window_size(WIDTH, 1000)
    browser.get((site / f"{page}.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert browser.find_element("css selector", "h1").text
    broken = browser.execute_script("return Array.from(document.images).filter("
                                    "i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert not broken
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, min(height + 140, 20000))  # the whole page, as ranked
    assert browser.save_screenshot(str(ARTIFACTS / f"{page}.png"))
    tables = browser.find_elements("css selector", "table.sortable")
    ranking = "table.index" if page == "index" else "table.ranking"
    assert tables and browser.find_elements("css selector", ranking)
    assert sum(_check_sorting(browser, table) for table in tables) > 0
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
