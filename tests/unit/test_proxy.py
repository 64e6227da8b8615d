"""Serve's proxy with our middleware (serving/proxy.py), through Starlette's TestClient: Ray's own plain-text
errors become JSON, and the application's answers pass as they were.

Behind the middleware stands what it wraps in Serve: Ray's proxy, whose own answers are built here with Ray's own
message builder, and the API's answers built by the API's own handlers. tests/serve checks it live.
"""
import pytest
from ray.serve._private.http_util import convert_object_to_asgi_messages
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from capitals_qa.serving.proxy import ServiceAnswers

pytestmark = pytest.mark.unit

OVERLOADED = "overloaded: 16 questions are waiting already, the limit"


class RaysProxy:
    """Ray's proxy in front of one application at `/`: Ray's plain text until it is deployed or when Ray gives
    up (`ray_says`), else the application's answer."""

    def __init__(self):
        self.deployed = False
        self.ray_says = None  # (status, text) Ray answers instead of the app
        self.overloaded_for_s = 0
        self.questions = 0  # questions the application saw

    async def __call__(self, scope, receive, send):
        ray_says = self.ray_says
        if not self.deployed:
            ray_says = (404, f"Path '{scope['path']}' not found. Ping http://.../-/routes for available routes.")
        if ray_says:
            for message in convert_object_to_asgi_messages(ray_says[1], status_code=ray_says[0]):
                await send(message)
            return
        if scope["path"] == "/silent":  # the ingress died: Ray ends the request without a word
            return
        self.questions += 1
        if self.overloaded_for_s:  # as the API answers it
            response = JSONResponse({"errors": [OVERLOADED]}, status_code=503, headers={"Retry-After": str(self.overloaded_for_s)})
        else:
            response = JSONResponse({"query": "q", "answers": []})
        await response(scope, receive, send)


@pytest.fixture
def proxy():
    return RaysProxy()


@pytest.fixture
def client(proxy):
    return TestClient(ServiceAnswers(proxy))


def test_before_the_application_answers_rays_404_is_a_json_503_starting_with_retry_after(proxy, client):
    starting = client.post("/", content="What is the capital of Italy?")
    assert starting.status_code == 503 and starting.headers["content-type"] == "application/json"
    assert starting.json()["errors"][0].startswith("starting: no application answers here yet (Ray Serve: Path '/' not found")
    assert starting.headers["retry-after"] == "5"
    proxy.deployed = True
    assert client.post("/", content="What is the capital of Italy?").status_code == 200
    proxy.ray_says = (404, "Path '/elsewhere' not found. Ping http://.../-/routes for available routes.")
    # Once the application has answered, Ray's 404 means a path no application serves: a 404, in JSON.
    lost = client.get("/elsewhere")
    assert lost.status_code == 404 and lost.json() == {"errors": [proxy.ray_says[1]]}


@pytest.mark.parametrize("ray_status, text, status, retry_after", [
    (503, "Request dropped due to backpressure (num_queued_requests=64, max_queued_requests=64).", 503, "1"),
    (408, "Request 4f1c timed out after 60.0s.", 504, None),
])
def test_rays_own_503_and_408_are_json(proxy, client, ray_status, text, status, retry_after):
    proxy.deployed, proxy.ray_says = True, (ray_status, text)
    response = client.post("/", content="What is the capital of Italy?")
    assert response.status_code == status and response.json() == {"errors": [text]}
    assert response.headers.get("retry-after") == retry_after


def test_a_request_ray_ends_without_an_answer_gets_a_json_500(proxy, client):
    proxy.deployed = True
    response = client.post("/silent", content="What is the capital of Italy?")
    assert response.status_code == 500 and "failed inside Ray Serve" in response.json()["errors"][0]


def test_rays_own_routes_are_left_as_ray_answers_them(proxy, client):
    proxy.ray_says = (503, "This node is being drained.")
    proxy.deployed = True
    drained = client.get("/-/healthz")
    assert drained.status_code == 503 and drained.text == "This node is being drained."


def test_the_services_own_refusals_pass_as_they_are_and_every_question_reaches_the_app(proxy, client):
    proxy.deployed, proxy.overloaded_for_s = True, 2
    for number in range(1, 4):
        refused = client.post("/", content="What is the capital of Italy?")
        assert refused.status_code == 503 and refused.json() == {"errors": [OVERLOADED]} and refused.headers["retry-after"] == "2"
        assert proxy.questions == number
