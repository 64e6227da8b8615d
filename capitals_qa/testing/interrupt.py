"""Child processes that a test or benchmark stops with Ctrl-C (SIGINT), as a user in a terminal would."""
import signal


def ctrl_c_as_in_a_terminal() -> None:
    """Popen's preexec_fn: SIGINT back to its default in the child.

    A shell starts its background jobs with SIGINT ignored, and children inherit that: under such a job (a CI
    runner's, `nohup ... &`) `serve run` or `ray start --block` would ignore the Ctrl-C meant to stop them.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
