"""Stack providers: each sets up the stack, provisions cert-manager, and tears down in reverse order."""
