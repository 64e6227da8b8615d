"""What runs in each model replica: the `Pipeline` deployment (single mode) or a node's (per_node mode).

pipeline_replica  PipelineReplica, the `Pipeline` deployment: a LocalPipeline with Serve's part
local_pipeline    LocalPipeline: the whole query pipeline in this process as the API's Backend (no Ray)
node_replica      PipelineNode: one node of the pipeline per deployment, with the store it reads
local_store       uploads, documents and feedback on this process's store (no Ray)
workers           worker threads that share a replica's CPUs between questions, behind a time-bounded queue
batching          the per-node Reader's batching of concurrent questions' model calls
resources         the CPUs and GPU Ray gave this replica
start             a replica's start, phase by phase; its objects kept out of full GC passes
"""
