"""The browser sign-in: the loopback redirect receiver (RFC 8252), opening the browser, the
paste-the-redirect fallback where none can open, and the authorization-code flow that ties
them together."""
