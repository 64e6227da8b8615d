"""The HTTP layer: FastAPI only (no Ray, no Haystack). It answers through a `Backend` that speaks plain data, so
it can be tested with TestClient over any backend.

app           create_api(): the FastAPI app, its routers and its one JSON error shape
routers/      the routes, one module per group of endpoints
backend       what the routes need from whatever runs the pipeline: answers, the store, health
errors        the errors a client gets (RequestError, Overloaded, Unavailable) and their statuses
dependencies  what every route asks of a request: what is served, the request's id
body          reading a request body within its limit: plain-text questions and /query JSON
params        checking a request's `params` against the pipeline's nodes before any work is done
schemas       request and response bodies in Haystack's REST shapes
store_calls   what a failed store call means for a client (400, 501)
access        the API key and CORS
metrics       what the API meters (the serving layer records it)
answering     answering one question for any route: time limit, answer cache, metering, its log line
answer_cache  answers to repeated questions, never stale, bounded
squad         feedback labels as SQuAD data (/export-feedback)
usage         this process's CPU, memory and GPUs for /health
"""
