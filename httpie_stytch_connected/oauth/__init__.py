"""The protocol, by RFC: what goes on the wire to an authorization server and what comes back.

One module per concept (PKCE, token requests, discovery, resource metadata, registration, ID
tokens, the Bearer rules); every call to a provider goes through :mod:`.provider_calls`. This
layer imports nothing of storage, settings, the lifecycle or the adapters above it.
"""
