"""pyrunc's runtime-agnostic OCI conformance tests and the shared test fixtures."""
