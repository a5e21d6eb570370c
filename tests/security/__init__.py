"""Security suite (issue #10): hostile input, database roles, secrets."""
