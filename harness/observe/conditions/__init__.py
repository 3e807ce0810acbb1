"""Conditions for harness.wait.wait_for: callables that look once and return Seen(holds, what they saw).

One module per thing they read: general (combinators: observe, not_, all_of, holds_throughout), kube (one
object), certificates (a Certificate, its requests and Secret), acme (Orders and Challenges), tls (a served
certificate), metrics (cert-manager's /metrics), dns (the fake DNS log) and
controller (the controller process). Conditions never assert; a fetch that fails raises, and wait_for
reports it as what was last seen. The admission probes create objects, so they are chaos's
(harness.chaos.admission).
"""
