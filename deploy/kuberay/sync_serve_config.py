"""Copy serve_config.yaml's `applications` into rayservice.yaml's serveConfigV2, comments included.

    python deploy/kuberay/sync_serve_config.py

Run after editing serve_config.yaml; tests/unit/test_kuberay.py fails while the two differ.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVE_CONFIG = HERE.parent.parent / "serve_config.yaml"
MANIFEST = HERE / "rayservice.yaml"
BLOCK = "  serveConfigV2: |"
INDENT = "    "  # the block's lines, as YAML reads the block scalar


def synced(manifest: str, serve_config: str) -> str:
    lines = manifest.splitlines()
    start = lines.index(BLOCK) + 1
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(INDENT)):
        end += 1
    block = lines[start:end]
    first_app_line = next(n for n, line in enumerate(block) if line.startswith(f"{INDENT}applications:"))
    config_lines = serve_config.splitlines()
    applications = config_lines[next(n for n, line in enumerate(config_lines) if line.startswith("applications:")) :]
    while applications and not applications[-1].strip():
        applications.pop()
    block = block[:first_app_line] + [f"{INDENT}{line}" if line.strip() else "" for line in applications]
    return "\n".join(lines[:start] + block + lines[end:]) + "\n"


def main() -> None:
    MANIFEST.write_text(synced(MANIFEST.read_text(), SERVE_CONFIG.read_text()))
    print(f"{MANIFEST}: serveConfigV2's applications now those of {SERVE_CONFIG}")


if __name__ == "__main__":
    main()
