"""Pre-upgrade validation (`certchaos upgrade-check`): a user's setup on cert-manager A, upgraded in place to B."""
