"""The paper's contribution (arXiv 2502.18548). Not implemented yet: see the package issue."""
