"""Alerting: threshold rules over the queue's metrics, a persisted state machine, and notifiers.

`service` is the interface the CLI, the console and the scheduler call; `rules` turns metrics
into values, `state` decides and records notices, `notifiers` delivers them, `signing` signs
webhooks (and verifies them, for receivers), `hooks` holds the built-in Python hook, `jobs`
registers the evaluation with the engine scheduler.

Configuration (no `[alerts.rules]` at all means the default rules: failure rate 10 % with a
warning at 5 %, backlog 100, scheduler heartbeat 300 s, an outage open 600 s)::

    [alerts]
    cooldown_seconds = 3600            # at most one repeat per hour while a rule keeps firing
    evaluate_interval_seconds = 60
    default_notify = ["ops-slack"]     # for rules without `notify` (empty: every notifier)

    [alerts.rules.failure_rate]
    metric = "failure_rate_24h"        # failure_rate_24h, queue_backlog, oldest_queue_age_s,
    threshold = 0.10                   # dead_letters_new, outage_open_s, quota_used,
    warning = 0.05                     # scheduler_heartbeat_age_s
    notify = ["ops-slack", "pager"]

    [alerts.rules.postmark_outage]
    metric = "outage_open_s"
    threshold = 600
    backend = "postmark-main"

    [notifiers.ops-slack]              # secret: the incoming-webhook URL
    type = "slack"                     # mailconsole secrets set ops-slack

    [notifiers.pager]                  # secret: the HMAC key (MAILCONSOLE_SECRET_PAGER)
    type = "webhook"
    url = "https://alerts.example.com/mailconsole"

    [notifiers.oncall-mail]
    type = "email"
    account = "smtp-fallback"          # sent directly through this account (via = "queue" to queue)
    to = ["oncall@example.com"]

    [notifiers.journal]
    type = "hook"
    hook = "log"                       # an entry point under mailconsole.alert_hooks
"""
