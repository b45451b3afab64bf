"""Settings: the schema (:mod:`.options`), profiles, resolution with sources, and which
provider the settings choose (the Stytch preset is one)."""
