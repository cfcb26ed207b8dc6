"""Alerting: threshold rules over the queue's metrics, a persisted state machine, and notifiers.

`service` is the interface the CLI, the console and the scheduler call; `rules` turns metrics
into values, `state` decides and records notices, `notifiers` delivers them, `signing` signs
webhooks (and verifies them, for receivers), `hooks` holds the built-in Python hook.
"""
