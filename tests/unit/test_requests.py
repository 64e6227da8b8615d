"""Request parsing and validation, before any pipeline work."""
import asyncio
import json

import pytest

from capitals_qa.api.backend import ParamsRules
from capitals_qa.api.errors import RequestError
from capitals_qa.api.body import json_depth, parse_query_request, parse_question, read_limited
from capitals_qa.api.params import check_params

pytestmark = pytest.mark.unit

NODES = ParamsRules({
    "Retriever": {"root_node", "query", "filters", "top_k", "documents", "index", "headers", "scale_score"},
    "Reader": {"query", "documents", "top_k", "labels", "add_isolated_node_eval"},
})


async def _chunks(*parts):
    for part in parts:
        yield part


def read(parts, declared, limit):
    return asyncio.run(read_limited(_chunks(*parts), declared, limit))


def status_of(call, *args):
    with pytest.raises(RequestError) as raised:
        call(*args)
    return raised.value.status, " ".join(raised.value.messages)


def test_read_limited_joins_chunks_up_to_the_limit():
    assert read([b"ab", b"cd"], "4", 4) == b"abcd"


def test_read_limited_refuses_a_declared_length_over_the_limit_before_reading():
    assert status_of(read, [b"a"], "5", 4)[0] == 413


def test_read_limited_refuses_an_undeclared_body_that_grows_over_the_limit():
    assert status_of(read, [b"abc", b"de"], None, 4) == (413, "request body is larger than the limit of 4 bytes")


def test_question_is_decoded_utf8_and_stripped():
    assert parse_question("  Wo liegt Zürich?\n".encode()) == "Wo liegt Zürich?"


@pytest.mark.parametrize("body, status, mentions", [(b"", 400, "empty"), (b" \r\n", 400, "empty"), (b"\xc3(", 400, "UTF-8")])
def test_bad_questions(body, status, mentions):
    got_status, message = status_of(parse_question, body)
    assert got_status == status and mentions in message


def test_query_request_accepts_haystack_rest_bodies():
    request = parse_query_request(b'{"query": "Who?", "params": {"Retriever": {"top_k": 2}}, "debug": true}')
    assert (request.query, request.params, request.debug) == ("Who?", {"Retriever": {"top_k": 2}}, True)
    assert parse_query_request(b'{"query": "Who?"}').params is None


@pytest.mark.parametrize(
    "body, status, mentions",
    [
        (b"nope", 400, "not valid JSON"),
        (b"\xff", 400, "UTF-8"),
        (b"3", 422, "JSON object"),
        (b'{"params": {}}', 422, "query: field required"),
        (b'{"query": ["a"]}', 422, "query: str type expected"),
        (b'{"query": "a", "debug": 1}', 422, "debug"),
        (b'{"query": "a", "params": "x"}', 422, "params: must be an object"),
        (b'{"query": "a", "params": []}', 422, "params: must be an object"),
        (b'{"query": "a", "top_k": 3}', 422, "top_k: extra fields not permitted"),
        (b'{"query": ""}', 400, "empty"),
    ],
)
def test_bad_query_requests_name_the_field(body, status, mentions):
    got_status, message = status_of(parse_query_request, body)
    assert got_status == status and mentions in message


@pytest.mark.parametrize(
    "params",
    [None, {}, {"top_k": 3}, {"filters": {"name": ["Italy"]}}, {"Retriever": {"top_k": 10}, "Reader": {"top_k": 3}},
     {"debug": True}, {"Retriever": {"filters": None}}],
)
def test_valid_params_pass(params):
    check_params(params, NODES)


def test_params_the_pipeline_would_ignore_are_refused():
    rules = ParamsRules(NODES.node_parameters, {"filters": "the store ignores them"})
    check_params({"filters": None, "Retriever": {"filters": {}}}, rules)
    for params in ({"filters": {"a": 1}}, {"Retriever": {"filters": {"a": 1}}}):
        assert status_of(check_params, params, rules) == (
            400, "params: 'filters' is not supported by this pipeline: the store ignores them")


@pytest.mark.parametrize(
    "params, mentions",
    [
        ({"Ranker": {"top_k": 1}}, "its nodes are ['Reader', 'Retriever']"),
        ({"Retriever": {"top_n": 1}}, "Retriever has no parameter 'top_n'"),
        ({"Retriever": {"query": "other"}}, "has no parameter 'query'"),
        ({"Reader": 3}, "params.Reader must be an object"),
        ({"top_k": "3"}, "params.top_k must be a whole number"),
        ({"top_k": True}, "params.top_k must be a whole number"),
        ({"Reader": {"top_k": -1}}, "params.Reader.top_k"),
        ({"filters": ["Italy"]}, "params.filters must be an object, got an array"),
        ({"documents": []}, "input of the pipeline"),
        ({"debug": "yes"}, "params.debug must be true or false"),
    ],
)
def test_invalid_params_get_400_naming_the_problem(params, mentions):
    status, message = status_of(check_params, params, NODES)
    assert status == 400 and mentions in message


@pytest.mark.parametrize("body", ["\u0083".encode(), b"?!...", "\u200b\u0007 --".encode()])
def test_questions_without_letters_or_digits_are_refused(body):
    assert status_of(parse_question, body) == (400, "the question holds no letters or digits")
    query = json.dumps({"query": body.decode()}).encode()
    assert status_of(parse_query_request, query) == (400, "query: the question holds no letters or digits")


@pytest.mark.parametrize("question", ["Wo liegt Zürich?", "東京は", "1848", "Где Москва"])
def test_questions_in_any_script_pass(question):
    assert parse_question(question.encode()) == question


def test_deeply_nested_json_is_refused_before_parsing():
    nested = b'{"query": "a", "params": {"filters": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    assert status_of(parse_query_request, nested) == (400, "request body nests 1002 levels deep; at most 32 are accepted")
    assert status_of(parse_query_request, b"[" * 100_000)[0] == 400


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert json_depth('{"query": "[[[[{{{{\\"]]]", "params": {"filters": {"a": ["[b"]}}}') == 4
    assert parse_query_request(('{"query": "' + "[" * 100 + ' who?"}').encode()).query.endswith("who?")


@pytest.mark.parametrize(
    "params, mentions",
    [
        ({"Retriever": {"index": "../../etc"}}, "params.Retriever.index: 'index' of Retriever cannot be set by a request; "
                                                "it accepts ['debug', 'filters', 'scale_score', 'top_k']"),
        ({"Retriever": {"headers": {"Authorization": "x"}}}, "'headers' of Retriever cannot be set"),
        ({"Reader": {"labels": []}}, "it accepts ['debug', 'top_k']"),
        ({"index": "other"}, "params.index: 'index' cannot be set by a request; global parameters are "
                             "['debug', 'filters', 'scale_score', 'top_k']"),
    ],
)
def test_parameters_that_are_the_operators_are_refused(params, mentions):
    status, message = status_of(check_params, params, NODES)
    assert status == 400 and mentions in message


def test_a_joins_top_k_join_is_a_clients_and_capped_as_top_k_is():
    hybrid = ParamsRules({**NODES.node_parameters, "JoinResults": {"inputs", "top_k_join", "root_node"}})
    check_params({"JoinResults": {"top_k_join": 8}}, hybrid)
    assert status_of(check_params, {"JoinResults": {"top_k_join": 201}}, hybrid) == (
        400, "params.JoinResults.top_k_join must be at most 200 (the service's MAX_TOP_K), got 201")
    assert status_of(check_params, {"JoinResults": {"top_k_join": "8"}}, hybrid)[0] == 400


def test_top_k_is_capped_globally_and_per_node():
    check_params({"top_k": 200, "Retriever": {"top_k": 200}}, NODES)
    assert status_of(check_params, {"Retriever": {"top_k": 100_000}}, NODES) == (
        400, "params.Retriever.top_k must be at most 200 (the service's MAX_TOP_K), got 100000")
    assert status_of(check_params, {"top_k": 11}, NODES, 10) == (
        400, "params.top_k must be at most 10 (the service's MAX_TOP_K), got 11")
