"""What runs in each replica of the ingress (HaystackQA): the HTTP API, over handles to the model deployments.
Imports no model code.

deployment       HaystackQA, the ingress deployment: builds the API over a backend of either mode
remote_pipeline  single mode's backend: each question to a `Pipeline` replica
node_graph       per_node mode's backend: each question through the graph of node deployments, as Pipeline.run walks it
remote_store     uploads, documents and feedback, on the deployment that holds the store
retry            a question is asked again when the replica holding it dies
startup          a JSON 503 while a model deployment has never had a running replica
"""
