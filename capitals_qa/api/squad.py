"""Feedback labels as SQuAD training data, as Haystack REST's `/export-feedback` writes them."""
from typing import Any, Dict, List

from haystack.schema import Label, Span


def squad_export(labels: List[Label], context_size: int, full_document_context: bool) -> Dict[str, Any]:
    """{"data": [{"paragraphs": [{"context", "id", "qas": [...]}]}, ...]}: one entry per label.

    A label with neither a correct answer nor a correct document is a question without an answer
    (`is_impossible`); the others carry the answer text and its start in the context.
    """
    return {"data": [_squad_entry(label, context_size, full_document_context) for label in labels]}


def _squad_entry(label: Label, context_size: int, full_document_context: bool) -> Dict[str, Any]:
    text = label.document.content if isinstance(label.document.content, str) else str(label.document.content)
    answer_text = label.answer.answer if label.answer else ""
    start = _answer_start(label)
    if full_document_context:
        context, answer_start = text, start
    else:
        # A window of about context_size characters around the answer, moved inwards at the text's ends.
        room = max(0, (context_size - len(answer_text)) // 2)
        begin = max(0, min(start - room, len(text) - context_size))
        context, answer_start = text[begin : begin + context_size], start - begin
    impossible = label.is_correct_answer is False and label.is_correct_document is False
    answers = [] if impossible else [{"text": answer_text, "answer_start": answer_start}]
    qa = {"question": label.query, "id": label.id, "is_impossible": impossible, "answers": answers}
    return {"paragraphs": [{"context": context, "id": label.document.id, "qas": [qa]}]}


def _answer_start(label: Label) -> int:
    offsets = label.answer.offsets_in_document if label.answer else None
    if not offsets:
        return 0
    first = offsets[0]
    return first.start if isinstance(first, Span) else first.row  # a table answer's offset is a cell
