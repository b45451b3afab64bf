"""MCP (Model Context Protocol) test helpers and tests: a real MCP resource server and the
official conformance suite."""
