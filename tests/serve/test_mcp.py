"""/mcp through the official TypeScript MCP SDK's client (npm's @modelcontextprotocol/sdk, installed by .ci/run into
tests/mcp/node_modules), against the served default application: connect, list the tools, call both, two bad calls."""
import json
import shutil
import subprocess

import pytest
import requests

from capitals_qa.settings import PROJECT_DIR

pytestmark = pytest.mark.serve

CLIENT = PROJECT_DIR / "tests" / "mcp"


@pytest.fixture(scope="module")
def seen(qa_url):
    node = shutil.which("node")
    if node is None or not (CLIENT / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("needs Node.js and `npm ci --prefix tests/mcp` (.ci/run does both)")
    run = subprocess.run([node, str(CLIENT / "client.mjs"), f"{qa_url}/mcp"], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_an_mcp_client_lists_the_tools_with_the_query_schema(seen):
    assert seen["server"]["name"] == "capitals-qa"
    tools = {tool["name"]: tool for tool in seen["tools"]}
    assert set(tools) == {"answer_question", "search_documents"}
    for tool in tools.values():
        schema = tool["inputSchema"]
        assert schema["required"] == ["query"] and set(schema["properties"]) == {"query", "params"} and tool["description"]


def test_answer_question_gives_what_query_gives_with_each_answers_source(seen, qa_url):
    called = seen["answer"]
    assert called["isError"] is False and json.loads(called["content"][0]["text"]) == called["structuredContent"]
    answers = called["structuredContent"]["answers"]
    queried = requests.post(f"{qa_url}/query", json={"query": "What is the capital of Italy?"}, timeout=60).json()
    expected = [a for a in queried["answers"] if a["answer"]]
    assert [(a["answer"], a["context"]) for a in answers] == [(a["answer"], a["context"]) for a in expected]
    assert [a["score"] for a in answers] == pytest.approx([a["score"] for a in expected])
    names = {d["id"]: d["meta"]["name"] for d in queried["documents"]}
    assert [a["document"] for a in answers] == [names[a["document_ids"][0]] for a in expected]


def test_search_documents_applies_top_k_and_filters(seen):
    called = seen["search"]
    documents = called["structuredContent"]["documents"]
    assert called["isError"] is False and 1 <= len(documents) <= 3
    assert {document["name"] for document in documents} == {"Italy"} and all(document["content"] for document in documents)


def test_bad_calls_are_json_rpc_errors_with_the_right_codes(seen):
    assert seen["unknownTool"]["code"] == -32602 and "no_such_tool" in seen["unknownTool"]["message"]
    assert seen["overBound"]["code"] == -32602 and "at most 200" in seen["overBound"]["message"]
