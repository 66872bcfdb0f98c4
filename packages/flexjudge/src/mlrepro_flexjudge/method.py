"""The paper's contribution (arXiv 2505.18601). Not implemented yet: see the package issue."""
