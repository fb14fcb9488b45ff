"""The web page in a real headless Chromium: search, open a product, see recommendations change.

Runs against `shelf serve` over a real socket, on a small catalog with trained models.
Needs Debian's chromium (`.ci/run` installs it); skipped elsewhere unless CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration  # real processes or a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

FAMILIES = {
    "drill": ("Cordless Drill", "Volt", ["Tools", "Power Tools"], 89.0),
    "paint": ("Interior Paint", "Coat", ["Paint", "Interior"], 35.0),
    "hammer": ("Claw Hammer", "Forge", ["Tools", "Hand Tools"], 19.0),
    "lamp": ("Desk Lamp", "Lumen", ["Lighting", "Lamps"], 42.0),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_catalog(folder: Path) -> tuple[Path, Path]:
    items = folder / "items.jsonl"
    with items.open("w") as handle:
        for family, (title, brand, category, price) in FAMILIES.items():
            for k in range(8):
                record = {
                    "item_id": f"{family}-{k}",
                    "title": f"{brand} {title} model {k}",
                    "brand": brand,
                    "category": category,
                    "price": price + k,
                }
                handle.write(json.dumps(record) + "\n")
    events = folder / "events.csv"
    with events.open("w") as handle:
        handle.write("user_id,item_id,type,timestamp\n")
        t = 1_700_000_000
        for u in range(80):
            family = list(FAMILIES)[u % len(FAMILIES)]
            for step in range(6):
                t += 1
                handle.write(f"user-{u},{family}-{(u + step) % 8},view,{t}\n")
    return items, events


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("web")
    items, events = _write_catalog(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELF_")}
    env["SHELF_DATA_DIR"] = str(folder / "data")
    shelf = [sys.executable, "-c", "from shelf.cli import main; main()"]
    for args in (["import", "items", str(items)], ["import", "events", str(events)],
                 ["train", "--max-epochs", "3"]):  # fmt: skip
        done = subprocess.run([*shelf, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    # the page calls the API with a search key, as a shop's page would
    made = subprocess.run([*shelf, "keys", "create", "--scope", "search", "--name", "page"],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    env["SHELF_PAGE_KEY"] = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [*shelf, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, (folder / "serve.log").read_text()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)
    log.close()


def items_of(page: Any, selector: str) -> list[str]:
    """The item ids of the hits under ``selector`` (read through locators: the page's CSP
    forbids the string evaluation that ``evaluate_all`` would need)."""
    hits = page.locator(f"{selector} .hit")
    return [str(hits.nth(k).get_attribute("data-item")) for k in range(hits.count())]


def test_search_click_and_recommendations_change(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        page = browser.new_page()
        page.goto(server + "/for-you")
        page.wait_for_selector("#recs li")
        before_source = page.inner_text("#source")
        before = items_of(page, "#recs")
        assert "trending" in before_source or "popular" in before_source

        page.goto(server + "/")
        page.fill("#q", "cordless drill")
        page.wait_for_selector("#results .hit")
        first = page.locator("#results .hit").first
        assert "Drill" in first.inner_text()
        assert page.locator("#facets input[data-facet]").count() > 0
        page.screenshot(path=str(shots / "search.png"), full_page=True)
        total = page.inner_text("#summary")
        page.check('#facets input[data-facet="brand"][value="Volt"]')
        expect(page.locator("#summary")).not_to_have_text(total)
        brands = page.locator("#results .hit .muted").all_inner_texts()
        assert brands and all(b.startswith("Volt") for b in brands), brands
        first = page.locator("#results .hit").first
        first.locator("a.title").click()

        page.wait_for_selector("#similar li")
        assert "Drill" in page.inner_text("#title")
        page.click("#add-to-cart")
        expect(page.locator("#cart-status")).not_to_be_empty()
        assert "added" in page.inner_text("#cart-status")
        page.screenshot(path=str(shots / "product.png"), full_page=True)

        page.goto(server + "/for-you")
        page.wait_for_selector("#recs .hit")
        after_source = page.inner_text("#source")
        after = items_of(page, "#recs")
        reasons = page.locator("#recs .reason").all_inner_texts()
        page.screenshot(path=str(shots / "for-you.png"), full_page=True)
        browser.close()

    assert "session" in after_source or "personal" in after_source
    assert after != before
    assert any(i.startswith("drill-") for i in after[:5]), after
    assert reasons and all(r.strip() for r in reasons)
    assert (shots / "for-you.png").stat().st_size > 10_000
