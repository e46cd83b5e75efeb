"""Tools around finished runs: evaluate, export to ONNX, ship records and weights, the findings table."""
