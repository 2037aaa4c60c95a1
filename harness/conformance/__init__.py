"""The conformance suite, shipped in the package: `pytest --pyargs harness.conformance --impl x:y`."""
