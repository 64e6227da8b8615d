"""Status: `/health` (readiness and what is served), and Haystack REST's `/initialized` and `/hs_version`."""
from importlib.metadata import version
from typing import Any, Dict

from fastapi import APIRouter, Depends

from capitals_qa.api import usage as usage_of
from capitals_qa.api.backend import Served
from capitals_qa.api.dependencies import served
from capitals_qa.api.errors import Unavailable
from capitals_qa.api.schemas import ErrorResponse, HealthResponse, VersionResponse

router = APIRouter()


# Read once: /health answers Serve's and load balancers' frequent checks.
# Read from the installed packages' metadata: the API process need not import Haystack to report it.
VERSIONS = {"haystack": version("farm-haystack"), "ray": version("ray")}


@router.get("/health", summary="Readiness and what is served", response_model=HealthResponse,
            responses={503: {"model": ErrorResponse, "description": "cannot answer now; `errors` says why"}})
async def health(service: Served = Depends(served)) -> Dict[str, Any]:
    # Asked every time, so /health turns 200 again by itself once the store or node is back.
    problems = await service.backend.problems()
    if problems:
        raise Unavailable(*problems)
    usage = {"version": VERSIONS["haystack"], "cpu": {"used": usage_of.cpu_used()},
             "memory": {"used": usage_of.memory_used()}, "gpus": usage_of.gpus()}
    cache = service.cache.describe() if service.cache.enabled else None
    return {"ready": True, **await service.backend.describe(), "answer_cache": cache, "versions": VERSIONS, **usage}


@router.get("/initialized", summary="Haystack REST API: true once the pipeline is loaded", response_model=bool)
async def initialized() -> bool:
    return True


@router.get("/hs_version", summary="Haystack REST API: the Haystack version", response_model=VersionResponse)
async def hs_version() -> Dict[str, str]:
    return {"hs_version": VERSIONS["haystack"]}
