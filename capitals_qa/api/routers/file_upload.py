"""Haystack REST's `POST /file-upload`: text files through the YAML's indexing pipeline into the served store.

The form is Haystack's: `files` (one or more), `meta` (a JSON object added to every file's documents, whose
`name` is the file's), `additional_params` (JSON: per-node params), and its converter and preprocessor fields.
Unlike Haystack's, it says per file what happened, and refuses files it cannot index (empty, not UTF-8) by name.
"""
import importlib.util
import json
from typing import Any, Dict, List, Optional, Tuple

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Extra, ValidationError
from starlette.datastructures import FormData, UploadFile

from capitals_qa.api.backend import Served
from capitals_qa.api.body import read_limited, validation_messages
from capitals_qa.api.dependencies import served
from capitals_qa.api.errors import ERROR_RESPONSES, RequestError
from capitals_qa.api.schemas import ErrorResponse, UploadErrorResponse, UploadResponse
from capitals_qa.api.store_calls import store_call

router = APIRouter(tags=["documents"])
MAX_FILES = 1000


class UploadParams(BaseModel):
    """Haystack REST's FileConverterParams and PreprocessorParams form fields; given ones reach the nodes that take them."""

    remove_numeric_tables: Optional[bool] = None
    valid_languages: Optional[List[str]] = None
    clean_whitespace: Optional[bool] = None
    clean_empty_lines: Optional[bool] = None
    clean_header_footer: Optional[bool] = None
    split_by: Optional[str] = None
    split_length: Optional[int] = None
    split_overlap: Optional[int] = None
    split_respect_sentence_boundary: Optional[bool] = None

    class Config:
        extra = Extra.ignore


def _form_schema() -> Dict[str, Any]:
    properties: Dict[str, Any] = {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "UTF-8 text files"},
        "meta": {"type": "string", "description": 'JSON object added to each file\'s documents, e.g. {"source": "wiki"}'},
        "additional_params": {"type": "string", "description": 'JSON: per-node params, e.g. {"Splitter": {"split_length": 100}}'},
    }
    for name, field in UploadParams.__fields__.items():
        kind = {bool: "boolean", int: "integer"}.get(field.type_, "string")
        properties[name] = {"type": "array", "items": {"type": kind}} if name == "valid_languages" else {"type": kind}
    return {"type": "object", "required": ["files"], "properties": properties}


@router.post(
    "/file-upload",
    summary="Index text files through the indexing pipeline (Haystack REST's form)",
    response_model=UploadResponse,
    response_model_exclude_none=True,
    responses={400: {"model": UploadErrorResponse, "description": "some files refused (named); the others were indexed"},
               413: ERROR_RESPONSES[413], 415: {"model": ErrorResponse}, 422: ERROR_RESPONSES[422]},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _form_schema()}}}},
)
async def upload_files(request: Request, service: Served = Depends(served)):
    # Starlette would parse a url-encoded body too, without bounds on its fields (docs/security.md): only the form
    # Haystack's clients send is read.
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise RequestError(415, "the upload must be a multipart/form-data form (Haystack REST's: `files`, `meta`, ...)")
    limit = service.limits.max_upload_bytes
    body = await read_limited(request.stream(), request.headers.get("content-length"), limit)
    form = await _parse_form(request, body)
    files = await _files(form)
    meta = _json_field(form, "meta", {})
    params = _json_field(form, "additional_params", {})
    params.update(_upload_params(form))
    try:
        report = await store_call(service.backend.upload(files, meta, params))
    finally:
        service.cache.wrote()  # whether or not it went through, answers computed before may be stale now
    refused = [f"{result['name']}: {result['error']}" for result in report["files"] if result.get("error")]
    if refused:
        return JSONResponse({"errors": refused, **report}, status_code=400)
    return report


async def _parse_form(request: Request, body: bytes) -> FormData:
    async def replay() -> Dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=MAX_FILES, max_fields=MAX_FILES)
    except Exception as error:  # Starlette's MultiPartException and friends: the body is not a form
        raise RequestError(400, f"request body is not a valid multipart form: {error}") from None


async def _files(form: FormData) -> List[Tuple[str, bytes]]:
    uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
    if not uploads:
        raise RequestError(422, "files: field required (one or more files in the form field `files`)")
    return [(upload.filename or "upload.txt", await upload.read()) for upload in uploads]


def _json_field(form: FormData, name: str, default: Dict[str, Any]) -> Dict[str, Any]:
    text = form.get(name)
    if text is None or text in ("", "null"):
        return dict(default)
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise RequestError(422, f"{name}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise RequestError(422, f"{name}: must be a JSON object or null")
    return value


def _upload_params(form: FormData) -> Dict[str, Any]:
    given: Dict[str, Any] = {name: form.get(name) for name in UploadParams.__fields__ if form.get(name) not in (None, "")}
    if form.getlist("valid_languages"):
        given["valid_languages"] = form.getlist("valid_languages")
    if given.get("valid_languages") and importlib.util.find_spec("langdetect") is None:
        # Haystack's converters check languages with langdetect, which farm-haystack[inference] does not install:
        # without it they fail on a NameError.
        raise RequestError(400, "valid_languages: this service cannot check languages (the langdetect package is not installed)")
    try:
        return UploadParams.parse_obj(given).dict(exclude_none=True)
    except ValidationError as error:
        raise RequestError(422, *validation_messages(error.errors())) from None
