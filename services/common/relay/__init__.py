"""Store-to-bus relay: publish committed events from the log, in log order, with confirms."""
