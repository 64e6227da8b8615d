"""Pages for people: /ui (ask, upload, give feedback) and the API docs, every asset served by the app itself,
so that they work without internet access."""
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
# Swagger UI and ReDoc's files, as the fastapi-offline package ships them.
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))


def mount_assets(api: FastAPI) -> None:
    api.mount("/static/ui", StaticFiles(directory=STATIC), name="ui-assets")
    api.mount("/static/docs", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")


@router.get("/ui")
async def ui() -> FileResponse:
    return FileResponse(STATIC / "ui.html", media_type="text/html")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API docs",
        swagger_js_url="/static/docs/swagger-ui-bundle.js",
        swagger_css_url="/static/docs/swagger-ui.css",
        swagger_favicon_url="/static/docs/favicon.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API reference",
        redoc_js_url="/static/docs/redoc.standalone.js",
        redoc_favicon_url="/static/docs/favicon.png",
        with_google_fonts=False,
    )
