"""The commands this package installs.

index    capitals-index: a YAML's indexing pipeline over .txt files, or a store snapshot
compare  capitals-compare: two reader precisions on your own questions
status   capitals-status: `serve status` without Ray's dashboard
"""
