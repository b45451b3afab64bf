"""Zero configuration: from an API's 401 to a token for that API alone (RFC 9728, RFC 8414,
client identity, RFC 8707), with the decisions every adapter asks for in :mod:`.chain`."""
