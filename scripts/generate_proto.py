"""Regenerate the governance gRPC stubs from instrumentation/proto.

Usage: python scripts/generate_proto.py [OUT_DIR]

OUT_DIR defaults to instrumentation/src (the committed location); the contract
test runs this into a temporary directory and compares the results.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "instrumentation" / "proto"
PROTOS = ["genops/governance/v1/governance.proto"]


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for proto in PROTOS:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            proto,
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed for {proto}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "instrumentation" / "src")
