"""The paper's contribution (arXiv 2505.16322). Not implemented yet: see the package issue."""
