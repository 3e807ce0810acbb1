"""Breaking things and judging the outcome: faults and their injectors, actions a scenario takes
(renewals, authorization expiry), cert-manager's documented timings, and the scenario run itself."""
