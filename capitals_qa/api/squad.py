"""Feedback labels as SQuAD training data, as Haystack REST's `/export-feedback` writes them."""
from typing import Any, Dict, List

from capitals_qa.api.backend import LabelData


def squad_export(labels: List[LabelData], context_size: int, full_document_context: bool) -> Dict[str, Any]:
    """{"data": [{"paragraphs": [{"context", "id", "qas": [...]}]}, ...]}: one entry per label.

    A label with neither a correct answer nor a correct document is a question without an answer
    (`is_impossible`); the others carry the answer text and its start in the context.
    """
    return {"data": [_squad_entry(label, context_size, full_document_context) for label in labels]}


def _squad_entry(label: LabelData, context_size: int, full_document_context: bool) -> Dict[str, Any]:
    document, answer = label["document"], label.get("answer")
    text = document["content"] if isinstance(document["content"], str) else str(document["content"])
    answer_text = answer["answer"] if answer else ""
    start = _answer_start(answer)
    if full_document_context:
        context, answer_start = text, start
    else:
        # A window of about context_size characters around the answer, moved inwards at the text's ends.
        room = max(0, (context_size - len(answer_text)) // 2)
        begin = max(0, min(start - room, len(text) - context_size))
        context, answer_start = text[begin : begin + context_size], start - begin
    impossible = label["is_correct_answer"] is False and label["is_correct_document"] is False
    answers = [] if impossible else [{"text": answer_text, "answer_start": answer_start}]
    qa = {"question": label["query"], "id": label["id"], "is_impossible": impossible, "answers": answers}
    return {"paragraphs": [{"context": context, "id": document["id"], "qas": [qa]}]}


def _answer_start(answer: Any) -> int:
    offsets = answer.get("offsets_in_document") if answer else None
    if not offsets:
        return 0
    first = offsets[0]
    return first["start"] if "start" in first else first["row"]  # a table answer's offset is a cell
