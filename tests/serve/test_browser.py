"""The /ui page in headless Chromium (Debian's `chromium`, driven by Playwright) against a live service: ask and
see the answer highlighted, upload a file and find its content, send feedback and see it stored, errors and the
no-answer state shown. Skipped, with the reason, where Chromium cannot start."""

import pytest
import requests

from helpers import wait_until_ready, write_passages

pytestmark = pytest.mark.serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
QUUXLAND = "Zorblax is the capital of Quuxland. Quuxland trades violet salt across the Glimmer Sea."


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        except Exception as error:
            pytest.skip(f"Chromium cannot start ({CHROMIUM}): {str(error).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def ui_url(serve_url, qa_model, tmp_path_factory):
    """An app of its own (its store, log and labels), whose join passes on one passage: the reader's answers then
    all come from the passage that matches the question best."""
    from ray import serve

    from capitals_qa.serving.ingress.deployment import HaystackQA
    from capitals_qa.serving.replica.pipeline_replica import PipelineReplica
    from capitals_qa.settings import DEFAULT_PIPELINE_YAML, ServiceSettings
    from capitals_qa.testing.models import local_model_overrides

    state = tmp_path_factory.mktemp("ui")
    corpus = write_passages(state / "corpus.jsonl", [
        ("Italy", "Rome is the capital of Italy. The Tiber flows through Rome."),
        ("Peru", "Lima is the capital of Peru. Lake Titicaca lies between Peru and Bolivia."),
    ])
    yaml_file = state / "pipeline.yml"
    default = DEFAULT_PIPELINE_YAML.read_text()
    assert "top_k_join: 5" in default
    yaml_file.write_text(default.replace("top_k_join: 5", "top_k_join: 1"))
    settings = ServiceSettings().copy(update={
        "pipeline": str(yaml_file), "documents": str(corpus),
        "write_log": str(state / "writes.sqlite"), "feedback_db": str(state / "feedback.sqlite"),
        "node_overrides": local_model_overrides(qa_model),
    })
    pipeline = PipelineReplica.options(ray_actor_options={"num_cpus": 1}).bind(settings)
    serve.run(HaystackQA.options(name="UiQA").bind(settings, pipeline=pipeline), name="ui", route_prefix="/ui-app")
    url = f"{serve_url}/ui-app"
    wait_until_ready(url)
    yield url
    serve.delete("ui")


@pytest.fixture
def page(browser, ui_url):
    page = browser.new_page()
    outside = []
    # Everything the page loads must come from the app: the test fails on any other request.
    page.on("request", lambda request: None if request.url.startswith(ui_url) else outside.append(request.url))
    page.goto(f"{ui_url}/ui")
    yield page
    page.close()
    assert not outside, f"the page loaded {outside}"


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_selector("#answers li, #no-answer:not([hidden]), #error:not([hidden])", timeout=60_000)


def test_an_answer_is_shown_highlighted_in_its_context_with_source_and_score(page):
    ask(page, "What is the capital of Peru?")
    first = page.locator("#answers li").first
    marked = first.locator("mark").inner_text()
    assert marked and marked in first.locator(".context").inner_text()
    assert first.locator(".name").inner_text() == "Peru"
    assert float(first.locator(".score").inner_text()) >= 0


def test_an_api_error_is_shown_with_the_apis_message(page):
    ask(page, "   ")
    assert page.locator("#error").inner_text() == "query: the question is empty"


def test_uploaded_file_is_reported_per_file_then_answers_come_from_it(page, ui_url):
    page.set_input_files("#files", [
        {"name": "quuxland.txt", "mimeType": "text/plain", "buffer": QUUXLAND.encode()},
        {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
    ])
    page.click("#upload")
    page.wait_for_selector("#upload-results li >> nth=1", timeout=60_000)
    assert page.locator("#upload-results li").all_inner_texts() == [
        "quuxland.txt: indexed, 1 passages", "empty.txt: not indexed (empty)"]
    ask(page, "Which city is the capital of Quuxland?")
    first = page.locator("#answers li").first
    assert first.locator(".name").inner_text() == "quuxland.txt"
    assert first.locator(".context").inner_text() in QUUXLAND


def test_feedback_buttons_store_a_label(page, ui_url):
    requests.delete(f"{ui_url}/feedback", timeout=30)
    ask(page, "What is the capital of Italy?")
    first = page.locator("#answers li").first
    answer = first.locator("mark").inner_text()
    first.locator("button.wrong").click()
    page.wait_for_selector("#answers li .feedback-status:has-text('recorded as wrong')", timeout=30_000)
    [label] = requests.get(f"{ui_url}/feedback", timeout=30).json()
    assert label["query"] == "What is the capital of Italy?" and label["answer"]["answer"] == answer
    assert label["is_correct_answer"] is False and label["origin"] == "user-feedback"
    assert label["document"]["meta"]["name"] == "Italy"


def test_no_answer_state_when_the_store_is_empty(page, ui_url):
    assert requests.post(f"{ui_url}/documents/delete_by_filters", json={"filters": {}}, timeout=30).json() is True
    ask(page, "What is the capital of Italy?")
    assert page.locator("#no-answer").is_visible() and page.locator("#answers li").count() == 0
