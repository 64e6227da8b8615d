"""Support for tests and benchmarks (not used by the service).

models  small random-weight QA models built on this machine
lean    the lean profile's Ray, started and stopped from Python
"""
