"""Workloads that consume a certificate Secret (our TLS server in Deployments) and the reloader (Stakater
Reloader) that rolls them: manifests, deployment, readiness (kind only)."""
