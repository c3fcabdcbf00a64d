"""pytest plugin (entry point ``tilik_conformance``) providing the conformance kit's fixtures."""
