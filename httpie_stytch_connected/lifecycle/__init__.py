"""The token lifecycle: reuse, refresh or sign in, once across threads and processes."""
