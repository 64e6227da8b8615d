"""The least a request through Ray Serve costs here: a deployment that answers every request with one fixed JSON body,
behind Serve's HTTP proxy as the service's ingress is. bench/cache_bench.py compares an answer cache hit with it.

    serve run bench.serve_floor:app
"""
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

BODY = b'{"query": "", "answers": [], "documents": []}'


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)
class Constant:
    async def __call__(self, request: Request) -> Response:
        await request.body()
        return Response(BODY, media_type="application/json")


app = Constant.bind()
