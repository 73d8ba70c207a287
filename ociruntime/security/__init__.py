"""Process security settings: capabilities, user and groups, no_new_privs."""
