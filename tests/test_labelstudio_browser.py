"""A reviewer's view: pushed predictions show up in the real Label Studio UI (headless chromium).

Uses Debian's chromium (`make browser` installs it) through Playwright; no browser is
ever downloaded. The screenshot is kept in the test's tmp dir and copied to build/.
"""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from test_labelstudio_push import ARTICLE, PICKS, prediction_record, write_jsonl
from train.labelstudio import get_or_create_project, push_predictions, read_predictions

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@contextmanager
def reviewer_page(labelstudio):
    """A headless Chromium page logged in to the suite's Label Studio as its admin."""
    assert CHROMIUM.exists(), "no /usr/bin/chromium: run `make browser`"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{labelstudio.url}/user/login/")
            page.fill("input[name=email]", labelstudio.username)
            page.fill("input[name=password]", labelstudio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)
            yield page
        finally:
            browser.close()


def test_reviewer_sees_the_predicted_regions_and_classes(labelstudio, tmp_path):
    path = write_jsonl(tmp_path / "pred.jsonl", [prediction_record(ARTICLE, "tagger-ui+classifier-ui")])
    project, _ = get_or_create_project(labelstudio.client, title=f"browser {uuid.uuid4().hex[:8]}")
    push_predictions(labelstudio.client, project, read_predictions(path))
    task = next(t for t in labelstudio.client.tasks.list(project=project.id) if t.data["paragraph"] == 1)
    mentions = [(m, label) for i, m, label, _ in PICKS if i == 1]  # ORG and EDU, classes: ATTRACT

    shot = tmp_path / "labelstudio_review.png"
    with reviewer_page(labelstudio) as page:
        page.goto(f"{labelstudio.url}/projects/{project.id}/data?task={task.id}")
        page.wait_for_selector(".htx-highlight")
        page.wait_for_timeout(1000)  # let the outliner and choices settle before the picture
        page.screenshot(path=str(shot))

        highlighted = [e.inner_text() for e in page.query_selector_all(".htx-highlight")]
        regions = [" ".join(e.inner_text().split()) for e in page.query_selector_all(".lsf-outliner-item__title")]
        attract = page.locator("label", has_text="ATTRACT").locator("input[type=checkbox]")
        cultivate = page.locator("label", has_text="CULTIVATE").locator("input[type=checkbox]")
        tabs = " ".join(e.inner_text() for e in page.query_selector_all(".lsf-annotation-button"))
        body = page.inner_text("body")
        assert highlighted == [m for m, _ in mentions]
        assert regions == [f"{label} {m}" for m, label in mentions]
        assert attract.is_checked() and not cultivate.is_checked()
        assert "24.00%" in tabs  # the task's review score (ATTRACT at p=0.62)
        assert f"{ARTICLE.stem} · 第 1 段" in body and '"predictions"' not in body  # header, not task JSON

    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    shutil.copy(shot, build / shot.name)
    assert shot.stat().st_size > 10_000
