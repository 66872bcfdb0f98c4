"""The paper's contribution (arXiv 2504.09923). Not implemented yet: see the package issue."""
