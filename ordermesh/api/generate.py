"""Generates the committed stubs in ordermesh/api/v1 from proto/ (python -m ordermesh.api.generate)."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
OUT_DIR = Path(__file__).resolve().parent / "v1"
# protoc names modules after the proto path (ordermesh.v1); they live under ordermesh.api.v1 here.
_IMPORT = re.compile(r"^from ordermesh\.v1 import", re.MULTILINE)


def render() -> dict[str, str]:
    """Runs protoc in a temp dir and returns {file name: text} of the stubs as they should be committed."""
    from grpc_tools import protoc  # only needed at generation time

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "ordermesh" / "v1").glob("*.proto"))
    include = Path(protoc.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on " + ", ".join(protos))
        out: dict[str, str] = {}
        for path in sorted((Path(tmp) / "ordermesh" / "v1").iterdir()):
            out[path.name] = _IMPORT.sub("from ordermesh.api.v1 import", path.read_text())
    out["__init__.py"] = (
        '"""Generated gRPC stubs of ordermesh.v1 (do not edit; see ordermesh/api/generate.py)."""\n'
    )
    return out


def main() -> int:
    files = render()
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text)
    print(f"wrote {len(files)} files to {OUT_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
