"""The serving layer: Ray Serve. Its modules are grouped by the process they run in.

builders       the application builders `serve run` calls (in the `serve run` process, or Serve's controller)
ingress/       in each replica of the HaystackQA ingress: the HTTP API over the model deployments' handles
replica/       in each model replica: the `Pipeline` deployment (single mode) or one node (per_node mode)
proxy          in each of Serve's HTTP proxies: Ray's own errors as JSON
refusals       refusals cross from a model replica to the ingress as values
metrics        the API's metrics recorded with Ray's (ingress and replicas)
defaults       deployment options, and the environment Ray's processes get
ray_internals  every use of Ray behaviour Ray does not document as stable, each pinned by a test
"""
