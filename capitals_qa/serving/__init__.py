"""The serving layer: Ray Serve only. What runs where, and how a replica gets its backend.

builders  the application builders `serve run` calls, with typed arguments (capitals_qa.settings)
ingress   HaystackQA: the one ingress deployment, serving the API over a backend of either mode
pipeline  PipelineReplica: the `Pipeline` deployment of single mode, the whole pipeline in each replica
backends  LocalPipeline (in a Pipeline replica), RemotePipeline and NodeChain (in the ingress, over handles)
retry     the ingress asks another replica when the one holding a question dies
node      PipelineNode: one node of the pipeline per deployment (per_node mode); batching: the Reader's batches
workers   worker threads that share a replica's CPUs between questions
defaults  replica resources and options, in one place
"""
