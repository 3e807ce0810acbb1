"""Controllable stand-ins named by the design: DNS server, kubelet, workloads, ACME fault proxy."""
