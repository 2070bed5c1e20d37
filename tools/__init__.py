"""Repository tooling: deployment templates, the post-deploy smoke test, `make deploy`."""
