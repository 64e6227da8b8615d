"""Extractive question answering: a Haystack 1.x YAML pipeline served by Ray Serve."""
import os

# A production service should not report usage to a third party unless its operator opts in.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
