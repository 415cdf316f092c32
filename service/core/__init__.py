"""Cross-cutting foundations every layer may use: configuration, structured logs, metrics."""
