"""The paper's contribution (arXiv 2503.07067). Not implemented yet: see the package issue."""
