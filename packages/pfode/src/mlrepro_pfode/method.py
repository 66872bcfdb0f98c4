"""The paper's contribution (arXiv 2503.10219). Not implemented yet: see the package issue."""
