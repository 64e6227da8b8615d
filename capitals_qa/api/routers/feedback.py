"""Haystack REST's feedback endpoints: users' judgements of answers, stored as Haystack Labels, and what they add up to."""
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends

from capitals_qa.api.backend import Served
from capitals_qa.api.dependencies import served
from capitals_qa.api.errors import ERROR_RESPONSES, RequestError
from capitals_qa.api.schemas import FeedbackMetrics, FeedbackRequest, FilterRequest
from capitals_qa.api.squad import squad_export
from capitals_qa.api.store_calls import store_call

router = APIRouter(tags=["feedback"])
USER_FEEDBACK = {"origin": ["user-feedback"]}
# The fields of a Haystack Label (Label.to_dict()), which label filters name; Haystack's in-memory store fails on others.
LABEL_FIELDS = ("id", "query", "document", "is_correct_answer", "is_correct_document", "origin", "answer", "pipeline_id",
                "created_at", "updated_at", "meta", "filters")


@router.post("/feedback", summary="Store a user's judgement of an answer as a label", responses=ERROR_RESPONSES)
async def post_feedback(feedback: FeedbackRequest, service: Served = Depends(served)) -> None:
    await store_call(service.backend.write_label(feedback.dict()))


@router.get("/feedback", summary="Every stored label", response_model=List[Dict[str, Any]])
async def get_feedback(service: Served = Depends(served)) -> List[Dict[str, Any]]:
    return await store_call(service.backend.labels())


@router.delete("/feedback", summary="Delete the labels users sent (gold labels stay)")
async def delete_feedback(service: Served = Depends(served)) -> None:
    labels = await store_call(service.backend.labels(USER_FEEDBACK))
    await store_call(service.backend.delete_labels([label["id"] for label in labels]))


@router.post("/eval-feedback", summary="Share of users' labels with a correct answer and a correct document",
             response_model=FeedbackMetrics, responses=ERROR_RESPONSES,
             # No body, or null, counts every label users sent, as in Haystack's REST API.
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"anyOf": [
                 {"type": "object", "properties": {"filters": {"anyOf": [
                     {"type": "object", "propertyNames": {"enum": list(LABEL_FIELDS)}}, {"type": "null"}]}}},
                 {"type": "null"}]}}}}})
async def eval_feedback(request: Optional[FilterRequest] = None, service: Served = Depends(served)) -> Dict[str, Any]:
    given = (request.filters if request else None) or {}
    unknown = sorted(set(given) - set(LABEL_FIELDS))
    if unknown:
        raise RequestError(400, f"filters: labels have no field {unknown[0]!r}; they have {list(LABEL_FIELDS)}")
    filters = {**given, **USER_FEEDBACK}
    labels = await store_call(service.backend.labels(filters))
    if not labels:
        return {"answer_accuracy": None, "document_accuracy": None, "n_feedback": 0}
    return {
        "answer_accuracy": sum(bool(label["is_correct_answer"]) for label in labels) / len(labels),
        "document_accuracy": sum(bool(label["is_correct_document"]) for label in labels) / len(labels),
        "n_feedback": len(labels),
    }


@router.get("/export-feedback", summary="Users' labels as SQuAD training data")
async def export_feedback(
    context_size: int = 100_000, full_document_context: bool = True, only_positive_labels: bool = False,
    service: Served = Depends(served),
) -> Dict[str, Any]:
    if only_positive_labels:
        labels = await store_call(service.backend.labels({**USER_FEEDBACK, "is_correct_answer": [True]}))
    else:
        labels = await store_call(service.backend.labels(USER_FEEDBACK))
        # A right passage with a wrong answer is neither a SQuAD answer nor a question without one.
        labels = [label for label in labels if not (label["is_correct_document"] and label["is_correct_answer"] is False)]
    return squad_export(labels, context_size, full_document_context)
