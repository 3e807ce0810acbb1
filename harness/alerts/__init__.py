"""Alerts: the default rules (production thresholds scaled to the lab's short certificates), the user's own
rule files, the webhook receiver Alertmanager notifies, and the replay of a live run's series at production
time scale with promtool."""
