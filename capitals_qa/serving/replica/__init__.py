"""What runs in each model replica: the `Pipeline` deployment (single mode) or a node's (per_node mode).

The deployment classes import the model code in their constructors, so the process that builds the application
imports their modules without it; the `local_` modules hold the model code and import no Ray.

pipeline_replica  PipelineReplica, the `Pipeline` deployment: a LocalPipeline with Serve's part
node_replica      PipelineNode: one node of the pipeline per deployment, a LocalNode with Serve's part
forwarding        the Store methods of both deployments, answered by their local object
local_pipeline    LocalPipeline: the whole query pipeline in this process as the API's Backend
local_node        LocalNode: one node of the pipeline in this process, with the store it reads
local_store       uploads, documents and feedback on this process's store
workers           worker threads that share a replica's CPUs between questions, behind a time-bounded queue
batching          the per-node Reader's batching of concurrent questions' model calls
resources         the CPUs and GPU Ray gave this replica
start             a replica's start, phase by phase; its objects kept out of full GC passes
"""
