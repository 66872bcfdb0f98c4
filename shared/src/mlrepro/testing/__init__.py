"""Testing helpers: tiny offline LMs and tokenizers, the pytest plugin."""
