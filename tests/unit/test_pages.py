"""/ui and /docs load nothing from outside the app: every script, style sheet and icon they name is served by it."""
import re

import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit


@pytest.fixture
def client():
    return TestClient(create_api(lambda: Served(FakeBackend(), BodyLimits(100, 400))))


def assets(html: str):
    return re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) + re.findall(r'url: *["\']([^"\']+)["\']', html)


@pytest.mark.parametrize("page", ["/ui", "/docs", "/redoc"])
def test_pages_load_only_what_the_app_serves(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    names = assets(response.text)
    assert names, "the page names no assets"
    for name in names:
        assert not re.match(r"^(https?:)?//", name), f"{page} loads {name} from elsewhere"
        url = name if name.startswith("/") else f"/{name}"
        assert client.get(url).status_code == 200, f"{page}: {url} is not served"


def test_docs_page_shows_this_apis_description(client):
    assert "/openapi.json" in client.get("/docs").text
    assert "swagger-ui-bundle.js" in client.get("/docs").text
    assert client.get("/static/docs/swagger-ui-bundle.js").headers["content-type"].startswith(("application/javascript", "text/javascript"))
