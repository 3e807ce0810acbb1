"""Workloads that consume a certificate Secret (our TLS server in Deployments) and the reloader (Stakater
Reloader's image, or our reloader stand-in) that rolls them: manifests, deployment, readiness (kind only)."""
