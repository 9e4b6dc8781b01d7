"""Parity with Lightricks' reference code (ltx-core / ltx-pipelines 1.0.0, requirements-parity.txt)."""
