"""capitals-status: what `serve status` prints, asked of Serve's controller through Ray instead of the dashboard.

`serve status` reads the dashboard's REST API, which the lean profile (Ray started with --include-dashboard=false,
docs/operations.md) does not run; Serve's own Python API reaches the controller directly.

    capitals-status                      # the Ray of this machine (RAY_ADDRESS, or the one `ray start` started)
    capitals-status --address HOST:PORT  # another cluster's head (its GCS address)
"""
import argparse
import dataclasses
import json
import logging
import sys
from typing import List, Optional

import yaml


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="capitals-status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="auto", help="the Ray cluster's address (default: auto)")
    args = parser.parse_args(argv)

    import ray
    from ray import serve

    try:
        ray.init(address=args.address, logging_level=logging.ERROR, log_to_driver=False)
    except ConnectionError as error:
        print(f"capitals-status: no Ray cluster at {args.address}: {error}", file=sys.stderr)
        return 2
    # Through JSON: Serve's statuses are str enums, which JSON writes as their values.
    status = json.loads(json.dumps(dataclasses.asdict(serve.status()), default=str))
    print(yaml.safe_dump(status, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
