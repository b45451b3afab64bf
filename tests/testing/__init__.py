"""Tests of the test tools in ``httpie_stytch_connected.testing``."""
