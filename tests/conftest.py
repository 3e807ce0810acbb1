"""Hypothesis without its per-example deadline (200 ms by default): on a loaded 2-core CI machine an example's
time says nothing about its correctness, and speed is measured by benchmarks/, never asserted by a test."""

from hypothesis import settings

settings.register_profile("certchaos", deadline=None)
settings.load_profile("certchaos")
