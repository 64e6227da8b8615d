"""The API's routes, one module per group of endpoints.

questions    POST / and POST /query
status       /health, /initialized, /hs_version
file_upload  POST /file-upload
documents    /documents/get_by_filters, /documents/delete_by_filters
feedback     /feedback, /eval-feedback, /export-feedback
mcp          /mcp: the Model Context Protocol, two tools for agents
pages        /ui and the offline API docs (/docs, /redoc)
"""
