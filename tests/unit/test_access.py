"""The API key and CORS settings, over the API with TestClient."""
import logging

import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.access import Access
from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.settings import ServiceSettings
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit

KEY = "k3y-0f-at-least-16-chars"


def client_with(access: Access) -> TestClient:
    served = Served(FakeBackend(), BodyLimits(100, 400), access)
    return TestClient(create_api(lambda: served), raise_server_exceptions=False)


@pytest.fixture
def locked():
    return client_with(Access(api_key=KEY))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-of-16-chars"}, {"X-API-Key": KEY[:-1]},
                                     {"Authorization": f"Basic {KEY}"}, {"Authorization": KEY}])
@pytest.mark.parametrize("method, path", [("POST", "/"), ("POST", "/query"), ("GET", "/hs_version"), ("GET", "/docs"),
                                          ("GET", "/openapi.json"), ("GET", "/nowhere")])
def test_without_the_key_every_route_but_health_is_a_json_401(locked, headers, method, path):
    response = locked.request(method, path, content=b'{"query": "Who?"}', headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in response.json()["errors"][0]
    assert KEY not in response.text


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}, {"X-API-Key": KEY}])
def test_the_key_in_either_header_lets_a_question_through(locked, headers):
    assert locked.post("/", content=b"Capital of Italy?", headers=headers).text == "Rome"
    assert locked.post("/query", json={"query": "Who?"}, headers=headers).status_code == 200


def test_health_checks_need_no_key(locked):
    assert locked.get("/health").status_code == 200 and locked.get("/initialized").json() is True
    assert KEY not in locked.get("/health").text


def test_no_key_set_means_open():
    assert client_with(Access()).post("/", content=b"Capital of Italy?").status_code == 200


def test_cors_is_off_unless_origins_are_set():
    response = client_with(Access()).options("/query", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_answers_the_allowed_origins_preflight_without_a_key():
    client = client_with(Access(api_key=KEY, cors_origins=("https://app.example.com",)))
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    response = client.options("/query", headers=preflight)
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "https://app.example.com"
    other = client.options("/query", headers={**preflight, "Origin": "https://evil.example.com"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    answered = client.post("/", content=b"Who?", headers={"Origin": "https://app.example.com", "X-API-Key": KEY})
    assert answered.text == "Rome" and answered.headers["access-control-allow-origin"] == "https://app.example.com"


def test_the_key_stays_out_of_settings_printouts_and_logs(caplog):
    settings = ServiceSettings(api_key=KEY)
    logging.getLogger("test").warning("settings: %s %r", settings, Access(api_key=settings.api_key_value))
    assert KEY not in repr(settings) and KEY not in str(settings) and KEY not in caplog.text


@pytest.mark.parametrize("args, mentions", [
    ({"api_key": "short"}, "api_key\n  must be at least 16"),
    ({"api_key": "has a space in it, sixteen+"}, "api_key\n  must be at least 16 printable ASCII characters, without spaces"),
    ({"cors_origins": "app.example.com"}, "cors_origins\n  'app.example.com' is not an origin"),
    ({"cors_origins": "https://app.example.com/path"}, "cors_origins\n"),
])
def test_bad_access_settings_are_refused_naming_them(args, mentions):
    with pytest.raises(ValueError) as refused:
        ServiceSettings.parse_obj(args)
    assert mentions in str(refused.value)


def test_an_empty_api_key_means_none():
    assert ServiceSettings(api_key="").api_key is None


WRITE_REQUESTS = [("POST", "/file-upload", {"files": [("files", ("a.txt", b"Rome is the capital of Italy."))]}),
                  ("POST", "/documents/delete_by_filters", {"json": {"filters": {}}}),
                  ("POST", "/feedback", {"json": {"query": "q", "document": {"content": "c"}, "is_correct_answer": True,
                                                  "is_correct_document": True}}),
                  ("DELETE", "/feedback", {})]


@pytest.mark.parametrize("method, path, body", WRITE_REQUESTS)
def test_closed_writes_are_a_json_403_saying_how_to_open_them_while_questions_and_reads_stay_open(method, path, body):
    backend = FakeBackend()
    client = TestClient(create_api(lambda: Served(backend, BodyLimits(100, 400), Access(writes_open=False))))
    refused = client.request(method, path, **body)
    assert refused.status_code == 403 and "API_KEY" in refused.json()["errors"][0] and "OPEN_WRITES" in refused.json()["errors"][0]
    assert client.post("/", content=b"Who?").status_code == 200 and client.get("/health").status_code == 200
    assert client.post("/documents/get_by_filters", json={"filters": {}}).status_code == 501  # a read: the fake has no store


@pytest.mark.parametrize("api_key, open_writes, host, expected", [
    (None, False, "0.0.0.0", False), (None, False, "192.0.2.7", False), (None, True, "0.0.0.0", True),
    (KEY, False, "0.0.0.0", True), (None, False, "127.0.0.1", True), (None, False, "localhost", True), (None, False, "::1", True),
])
def test_writes_are_closed_only_beyond_loopback_without_a_key_or_the_operators_say_so(api_key, open_writes, host, expected):
    from capitals_qa.api.access import writes_open

    assert writes_open(api_key, open_writes, host) is expected


def test_under_a_route_prefix_health_stays_open_and_writes_stay_closed():
    # Serve mounts an application at its route_prefix: the app then sees the prefix in the path and in root_path.
    served = Served(FakeBackend(), BodyLimits(100, 400), Access(api_key=KEY, writes_open=False))
    client = TestClient(create_api(lambda: served), root_path="/keyed", raise_server_exceptions=False)
    assert client.get("/keyed/health").status_code == 200
    assert client.post("/keyed/", content=b"Who?").status_code == 401
    closed = TestClient(create_api(lambda: Served(FakeBackend(), BodyLimits(100, 400), Access(writes_open=False))),
                        root_path="/closed")
    assert closed.post("/closed/documents/delete_by_filters", json={"filters": {}}).status_code == 403
    assert closed.post("/closed/", content=b"Who?").status_code == 200
