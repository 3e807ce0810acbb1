"""Controllable stand-ins, only where no real component can be steered: the fake DNS server (fakes.dns)."""
