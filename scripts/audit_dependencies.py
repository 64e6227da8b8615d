"""Audit the installed dependency set and write docs/security.md.

    pip install -e '.[audit]'            # pip-audit, beside the project's set
    python scripts/audit_dependencies.py # runs pip-audit over this interpreter's site-packages

pip-audit lists the advisories published against each installed version (PyPI's advisory data, or OSV with
`--service osv`). What it cannot say is whether the service reaches the affected code: scripts/advisory_verdicts.yaml
holds that judgement, one entry per advisory (whether our code path uses the affected function, why, and what is
done), kept by hand. The report puts the two together, dated; an advisory without a verdict is listed as not yet
assessed, and a package pip-audit could not look up is listed as such, never as clean.

Not a CI gate: advisories appear without a change here. Run it before a release and commit the report.
"""
import argparse
import datetime
import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Dict, List

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
VERDICTS = PROJECT_DIR / "scripts" / "advisory_verdicts.yaml"
REPORT = PROJECT_DIR / "docs" / "security.md"


def run_pip_audit(service: str) -> Dict[str, Any]:
    """pip-audit's JSON over this interpreter's installed packages, or {"error": ...} when it cannot run."""
    command = [sys.executable, "-m", "pip_audit", "--path", sysconfig.get_paths()["purelib"], "--format", "json",
               "--aliases", "on", "--desc", "off", "--vulnerability-service", service, "--progress-spinner", "off"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    # pip-audit exits 1 when it found advisories: that is a result, not a failure.
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"pip-audit exited {run.returncode}: {last}"}


def pip_audit_version() -> str:
    try:
        from importlib.metadata import version

        return version("pip-audit")
    except Exception:
        return "not installed"


def merge(audit: Dict[str, Any], verdicts: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Advisories pip-audit reported (with their verdicts), packages it could not look up, and verdicts of
    advisories it did not report this time (kept: found by hand, or from a run with another service)."""
    by_id = {entry["id"]: entry for entry in verdicts.get("advisories", [])}
    found, skipped, seen = [], [], set()
    for dependency in audit.get("dependencies", []):
        if "skip_reason" in dependency:
            skipped.append({"name": dependency["name"], "reason": dependency["skip_reason"]})
            continue
        for vuln in dependency.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            verdict = next((by_id[i] for i in ids if i in by_id), None)
            seen.update(ids)
            found.append({"package": dependency["name"], "installed": dependency["version"], "id": vuln["id"],
                          "aliases": vuln.get("aliases", []), "fixed": ", ".join(vuln.get("fix_versions", [])) or "none",
                          "verdict": verdict})
    by_hand = [entry for entry in verdicts.get("advisories", []) if not ({entry["id"], *entry.get("aliases", [])} & seen)]
    return {"found": found, "skipped": skipped, "by_hand": by_hand}


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(audit: Dict[str, Any], merged: Dict[str, List[Dict[str, Any]]], verdicts: Dict[str, Any], service: str) -> str:
    today = datetime.date.today().isoformat()
    dependencies = audit.get("dependencies", [])
    lines = [
        "# Security: advisories against the installed set",
        "",
        f"Written by `python scripts/audit_dependencies.py` on {today} (pip-audit {pip_audit_version()}, advisory service "
        f"`{service}`), over the {len(dependencies)} packages of the environment that ran it, on Python "
        f"{sys.version.split()[0]}. Verdicts (does the service reach the affected code, and what is done) are kept by hand in "
        "`scripts/advisory_verdicts.yaml`. Regenerate before a release; advisories appear without a change here.",
        "",
        "## This run",
        "",
    ]
    if "error" in audit:
        lines.append(f"pip-audit could not run: {audit['error']}. Nothing below comes from this run.")
    elif merged["skipped"] and len(merged["skipped"]) == len(dependencies):
        lines.append(f"pip-audit looked up none of the {len(dependencies)} packages: {merged['skipped'][0]['reason']} (and so for "
                     "every package). Its advisory service was out of reach from the machine that ran it, so this run "
                     "says nothing about them: the advisories below were found by hand, in the advisory pages cited.")
    else:
        audited = len(dependencies) - len(merged["skipped"])
        lines.append(f"pip-audit looked up {audited} of {len(dependencies)} packages and reported {len(merged['found'])} advisories.")
        if merged["skipped"]:
            lines.append("Not looked up: " + ", ".join(f"{s['name']} ({cell(s['reason'])})" for s in merged["skipped"]) + ".")
    lines += ["", "## Advisories", ""]
    header = ["| package | installed | advisory | fixed in | reached by the service | why | what is done |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = []
    for item in merged["found"]:
        verdict = item["verdict"] or {}
        rows.append(f"| {item['package']} | {item['installed']} | {' / '.join([item['id'], *item['aliases']])} | {item['fixed']} | "
                    f"{verdict.get('reached', '**not yet assessed**')} | {cell(verdict.get('reason', ''))} | {cell(verdict.get('action', ''))} |")
    for entry in merged["by_hand"]:
        rows.append(f"| {entry['package']} | {entry['installed']} | [{' / '.join([entry['id'], *entry.get('aliases', [])])}]({entry['source']}) | "
                    f"{entry['fixed']} | {entry['reached']} | {cell(entry['reason'])} | {cell(entry['action'])} |")
    lines += header + rows if rows else ["None reported."]
    for title, key in (("Closed by raising a pin", "closed_by_raising_a_pin"), ("Checked by hand, none applies", "checked_clean"),
                       ("Not checked by hand", "unchecked"), ("Pins that cannot move", "frozen")):
        if verdicts.get(key):
            lines += ["", f"## {title}", ""] + [f"- {item}" for item in verdicts[key]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"], help="pip-audit's advisory source")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args()
    verdicts = yaml.safe_load(VERDICTS.read_text()) or {}
    audit = run_pip_audit(args.service)
    merged = merge(audit, verdicts)
    args.output.write_text(render(audit, merged, verdicts, args.service))
    unassessed = [item["id"] for item in merged["found"] if item["verdict"] is None]
    print(f"wrote {args.output}: {len(merged['found'])} advisories from pip-audit, {len(merged['by_hand'])} by hand, "
          f"{len(merged['skipped'])} packages not looked up; not yet assessed: {', '.join(unassessed) or 'none'}")


if __name__ == "__main__":
    main()
