"""The paper's contribution (arXiv 2503.11026). Not implemented yet: see the package issue."""
