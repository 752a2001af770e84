"""Generated gRPC stubs of ordermesh.v1 (do not edit; see ordermesh/api/generate.py)."""
