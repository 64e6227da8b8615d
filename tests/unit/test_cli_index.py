"""What a newcomer meets first in capitals-index: a quick --help, and one progress bar with a summary."""
import subprocess
import sys

from capitals_qa.cli.index import main as capitals_index
from capitals_qa.settings import PROJECT_DIR
import pytest

pytestmark = pytest.mark.unit

HELP_THEN_LIST_MODULES = """
import sys
from capitals_qa.cli.index import main
try:
    main(["--help"])
except SystemExit:
    pass
print(sorted(name for name in ("haystack", "torch", "transformers") if name in sys.modules))
"""


def test_help_answers_before_haystack_and_torch_are_imported():
    # They take seconds to import; --help (and a bad argument) must not wait for them.
    result = subprocess.run([sys.executable, "-c", HELP_THEN_LIST_MODULES], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert "usage: capitals-index" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_one_progress_bar_and_a_summary_over_many_files(tmp_path, capsys):
    for number in range(40):
        (tmp_path / f"country{number}.txt").write_text(f"City{number} is the capital of Country{number}. " * 50)
    assert capitals_index([str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "Updating BM25 representation" not in err and "Converting files" not in err
    # One bar: redrawn in place on one line (carriage returns), finished by the only new line.
    assert err.startswith("\rIndexing:") and err.count("\n") == 1 and "40/40" in err
    assert out.startswith("40 files read, 0 skipped, 80 documents written")


def test_the_snapshot_suffix_in_help_is_the_snapshot_modules():
    from capitals_qa.cli.index import SUFFIX
    from capitals_qa.pipeline.snapshot import SUFFIX as SNAPSHOT_SUFFIX

    assert SUFFIX == SNAPSHOT_SUFFIX
