"""Support for tests and benchmarks (not used by the service).

models         small random-weight QA models built on this machine
lean           the lean profile's Ray, started and stopped from Python
interrupt      child processes (serve run, ray start) that Ctrl-C stops, even under a background shell
otlp_receiver  an OTLP/HTTP trace receiver that keeps what it gets, to check and time tracing
schema_fuzz    schemathesis's command line against the app served over HTTP, every phase on every route
"""
