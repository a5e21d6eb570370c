"""The suite's harness: each module is one concern, imported by tests, never the reverse.

infra (fixtures: databases, vhosts), template (the migrated template they clone), ports
(below the ephemeral range), poll (`eventually`), stack (services in-process), people
(identity's HTTP API), consumers (in-process services stop fast), processes (`carnet run`),
relays, amqp, smtp_server, and the data helpers: events, eventstore, ledger, access_records,
appointment_story, stored.
"""
