"""The event backbone: CloudEvents envelope, transactional outbox, bus port and its adapters."""
