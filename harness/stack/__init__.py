"""What runs: the third-party binaries, processes and PKI, the stack providers (local), cert-manager's
installation, Pebble, Toxiproxy and the controller supervisor."""
