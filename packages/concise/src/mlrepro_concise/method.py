"""The paper's contribution (arXiv 2502.20122). Not implemented yet: see the package issue."""
