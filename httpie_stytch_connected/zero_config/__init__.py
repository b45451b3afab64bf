"""zero_config."""
