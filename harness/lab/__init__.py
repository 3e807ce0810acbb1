"""The scenario lab: the stack wired to the fake DNS server, Pebble and Toxiproxy as production is, the
issuers and certificates scenarios create in it, and the pytest fixtures that hand it out."""
