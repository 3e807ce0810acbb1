"""Read-only observation of a running lab: resources, metrics, TLS, watches, the timeline recorded into
a journal, and the conditions expectations wait for."""
