"""Where tokens and what we learned are kept: the keyring or file store, the access-token
cache, private files and directories, the cross-process lock, and cached provider metadata."""
