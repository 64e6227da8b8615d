"""The HTTP layer: FastAPI only (no Ray). It answers through a `Backend` and can be tested with TestClient.

app        create_api(): the FastAPI app, its JSON error shape, its routers
routers/   questions (POST /, POST /query) and status (/health, /initialized, /hs_version)
backend    what the routes need from whatever runs the pipeline: answer, describe, params rules
body       reading a request body within its limit: plain-text questions and /query JSON
params     checking a request's `params` against the pipeline's nodes before any work is done
schemas    request and response bodies in Haystack's REST shapes; serialize: pipeline output -> JSON
"""
