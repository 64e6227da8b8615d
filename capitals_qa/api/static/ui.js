// The /ui page: it uses only the public HTTP API (/query, /file-upload, /feedback), as any client would.
"use strict";

const $ = (id) => document.getElementById(id);

// The API's JSON error body is {"errors": [...]}; anything else is shown with its status.
async function apiError(response) {
  try {
    const body = await response.json();
    if (Array.isArray(body.errors)) return body.errors.join("; ");
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status} ${response.statusText}`;
}

function show(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

// The answer highlighted inside its context, built from text nodes only (documents may hold any characters).
function highlighted(answer) {
  const context = answer.context || "";
  const fragment = document.createDocumentFragment();
  let start = -1, end = -1;
  const offsets = answer.offsets_in_context || [];
  if (offsets.length && context.slice(offsets[0].start, offsets[0].end) === answer.answer) {
    start = offsets[0].start; end = offsets[0].end;
  } else {
    start = context.indexOf(answer.answer); end = start + answer.answer.length;
  }
  if (start < 0) {
    fragment.append(context);
    return fragment;
  }
  const mark = document.createElement("mark");
  mark.textContent = context.slice(start, end);
  fragment.append(context.slice(0, start), mark, context.slice(end));
  return fragment;
}

async function sendFeedback(query, answer, documents, correct, item) {
  const status = item.querySelector(".feedback-status");
  const docId = (answer.document_ids || [])[0];
  const doc = documents.find((d) => d.id === docId) || { id: docId, content: answer.context || "", meta: answer.meta || {} };
  const label = {
    query,
    document: { id: doc.id, content: doc.content, content_type: doc.content_type || "text", meta: doc.meta || {} },
    answer,
    is_correct_answer: correct,
    is_correct_document: correct,
    origin: "user-feedback",
  };
  status.textContent = "sending…";
  const response = await fetch("feedback", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(label),
  });
  status.textContent = response.ok ? `Thanks: recorded as ${correct ? "correct" : "wrong"}.` : await apiError(response);
  status.className = "feedback-status" + (response.ok ? "" : " error");
}

function showAnswers(query, result) {
  const list = $("answers");
  list.replaceChildren();
  const answers = (result.answers || []).filter((a) => a.answer && a.answer.trim());
  $("no-answer").hidden = answers.length > 0;
  for (const answer of answers) {
    const item = $("answer-template").content.firstElementChild.cloneNode(true);
    item.querySelector(".context").append(highlighted(answer));
    item.querySelector(".name").textContent = (answer.meta && answer.meta.name) || (answer.document_ids || [""])[0];
    item.querySelector(".score").textContent = answer.score == null ? "n/a" : answer.score.toFixed(3);
    item.querySelector(".correct").addEventListener("click", () => sendFeedback(query, answer, result.documents || [], true, item));
    item.querySelector(".wrong").addEventListener("click", () => sendFeedback(query, answer, result.documents || [], false, item));
    list.append(item);
  }
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("question").value;
  show($("error"), "");
  $("no-answer").hidden = true;
  $("answers").replaceChildren();
  $("status").textContent = "Searching…";
  try {
    const response = await fetch("query", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }),
    });
    if (!response.ok) {
      show($("error"), await apiError(response));
      return;
    }
    showAnswers(query, await response.json());
  } catch (error) {
    show($("error"), `The service cannot be reached: ${error.message}`);
  } finally {
    $("status").textContent = "";
  }
});

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData();
  for (const file of $("files").files) form.append("files", file, file.name);
  show($("upload-error"), "");
  const results = $("upload-results");
  results.replaceChildren();
  try {
    const response = await fetch("file-upload", { method: "POST", body: form });
    let body = null;
    try { body = await response.clone().json(); } catch (_) { /* not JSON */ }
    if (body && Array.isArray(body.files)) {
      for (const file of body.files) {
        const item = document.createElement("li");
        item.className = file.error ? "file-refused" : "file-ok";
        item.textContent = file.error ? `${file.name}: not indexed (${file.error})` : `${file.name}: indexed, ${file.documents} passages`;
        results.append(item);
      }
    }
    if (!response.ok && !(body && Array.isArray(body.files))) show($("upload-error"), await apiError(response));
  } catch (error) {
    show($("upload-error"), `The service cannot be reached: ${error.message}`);
  }
});
