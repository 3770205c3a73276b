"""The HTML views in a real headless browser (Debian's chromium, driven by Playwright).

Skipped when chromium or Playwright is missing, unless KGENHANCE_REQUIRE_BROWSER=1 (CI sets
it, and installs chromium), in which case their absence fails the test. Screenshots go to
$KGENHANCE_ARTIFACTS (default: test-artifacts/ in the repository).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from kgenhance.htmlview import mentions_html, predictions_html, write_html
from kgenhance.link import EntityLinker
from kgenhance.model import KnowledgeAwareClassifier

from test_model import fake_embeddings

CHROMIUM = os.environ.get("KGENHANCE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("KGENHANCE_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("KGENHANCE_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

TEXTS = [
    "the patient had atrial fibrillation and seizures <script>alert(1)</script>",
    "no findings",
    "recurrent convulsion & cardiac disease in the child",
]

# For every <mark>: its text, its offset inside the text block (counted over the text nodes
# before it), the data-start/end it claims, whether it is drawn, and its tooltip.
MARKS_JS = """
() => Array.from(document.querySelectorAll('article')).map(article => {
  const block = article.querySelector('.text');
  return Array.from(block.querySelectorAll('mark')).map(mark => {
    const range = document.createRange();
    range.setStart(block, 0);
    range.setEndBefore(mark);
    const rect = mark.getBoundingClientRect();
    return {offset: range.toString().length, text: mark.textContent, start: +mark.dataset.start,
            end: +mark.dataset.end, width: rect.width, height: rect.height, title: mark.title,
            background: getComputedStyle(mark).backgroundColor};
  });
})
"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail("KGENHANCE_REQUIRE_BROWSER=1 but no chromium executable was found")
        pytest.skip("no chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip("playwright is not installed (pip install -e .[dev])")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield instance
        instance.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog opened: {dialog.message}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def _check_marks(found, texts, expected_per_text):
    assert len(found) == len(texts)
    for marks, text, expected in zip(found, texts, expected_per_text):
        assert [m["text"] for m in marks] == expected
        for m in marks:
            assert m["offset"] == m["start"], m  # drawn exactly where the span starts in the text
            assert text[m["start"] : m["end"]] == m["text"]
            assert m["width"] > 0 and m["height"] > 0  # visible
            assert m["background"] not in ("", "rgba(0, 0, 0, 0)")


@pytest.fixture(scope="module")
def model(tiny_graph, tiny_backbone):
    torch.manual_seed(0)
    m = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["cardio", "neuro"], fake_embeddings(tiny_graph),
                                               knowledge_layer=1)
    m.attach(linker=EntityLinker.from_graph(tiny_graph))
    torch.nn.init.normal_(m.knowledge.up.weight, std=0.5)
    return m.eval()


def test_prediction_page_in_a_browser(browser, model, tiny_graph, tmp_path):
    preds = model.predict(TEXTS, explain=True)
    path = tmp_path / "predictions.html"
    write_html(path, predictions_html(preds, tiny_graph))
    page, errors = _open(browser, path)
    found = page.evaluate(MARKS_JS)
    expected = [[e.surface for e in p.entities] for p in preds]
    assert expected[0] == ["patient", "atrial fibrillation", "seizures"] and expected[1] == []
    _check_marks(found, TEXTS, expected)
    af = found[0][1]
    assert "http://example.org/med#AtrialFibrillation" in af["title"]
    assert "atrial fibrillation → arrhythmia → heart disease → disease" in af["title"]
    assert "attribution" in af["title"] and "Δp removed" in af["title"]
    # every article shows its label and probabilities; the entity table lists the scores
    heads = page.locator("article .label").all_inner_texts()
    assert heads == [p.label for p in preds]
    table = page.locator("article#t1 table").inner_text()
    for column in ("weight", "attribution", "Δp removed", "Δp runner-up"):
        assert column in table
    assert "<script>alert(1)</script>" in page.locator("article#t1 .text").inner_text()  # shown, not run
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "predictions.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
    assert errors == []
    page.close()


def test_linking_page_in_a_browser(browser, tiny_graph, tmp_path):
    linker = EntityLinker.from_graph(tiny_graph)
    mentions = [linker.link(t) for t in TEXTS]
    path = tmp_path / "links.html"
    write_html(path, mentions_html(TEXTS, mentions, tiny_graph))
    page, errors = _open(browser, path)
    _check_marks(page.evaluate(MARKS_JS), TEXTS, [[m.surface for m in ms] for ms in mentions])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "links.png"), full_page=True)
    assert errors == []
    page.close()
