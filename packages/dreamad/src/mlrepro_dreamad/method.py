"""The paper's contribution (arXiv 2503.16814). Not implemented yet: see the package issue."""
