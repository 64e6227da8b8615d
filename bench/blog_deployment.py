"""The baseline: the deployment of the deepset blog post this service grew from, rewritten here.

Kept as the blog has it, on purpose: default deployment options (one replica, Ray's default of one CPU), the
pipeline run directly inside `async def __call__`, which blocks the replica's event loop for every question,
and the body turned into text with `str(bytes)`, so the pipeline is asked "b'What is ...?'". It loads the same
pipeline and documents as the service (same settings, same loader), so only the serving differs.

    serve run bench.blog_deployment:app
"""
from ray import serve
from starlette.requests import Request

from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
from capitals_qa.settings import ServiceSettings


@serve.deployment
class HaystackQA:
    def __init__(self):
        # It also fills the store from DOCUMENTS_PATH (capitals_qa.pipeline.yaml_pipelines.fill_document_store).
        _, self.pipeline = load_served_pipelines(*ServiceSettings().pipeline_source)

    async def __call__(self, request: Request) -> str:
        query = str(await request.body())  # the blog's defect: "b'...'" rather than the decoded text
        result = self.pipeline.run(query=query)  # blocks the event loop: one question at a time, nothing else
        answers = result.get("answers") or []
        return answers[0].answer if answers else ""


app = HaystackQA.bind()
