"""The paper's contribution (arXiv 2505.22998). Not implemented yet: see the package issue."""
