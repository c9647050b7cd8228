"""The committed gRPC stubs are exactly what the .proto generates."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT

GENERATED = ROOT / "instrumentation" / "src" / "genops" / "governance" / "v1"


def test_generated_files_match_the_proto(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_proto.py"), str(tmp_path)], check=True
    )
    fresh = tmp_path / "genops" / "governance" / "v1"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == ["governance_pb2.py", "governance_pb2.pyi", "governance_pb2_grpc.py"]
    for name in names:
        assert (GENERATED / name).read_text() == (fresh / name).read_text(), (
            f"{name} is stale: run `make proto`"
        )
