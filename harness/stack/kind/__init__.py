"""The kind provider: a Docker engine (engine), the node and component images (images), the cluster (provider)."""
