"""The witness: a process apart from the audit, with its own database and key, that accepts a
signed tree head only if it extends the last one it accepted, and countersigns it (ADR 0015).
"""
