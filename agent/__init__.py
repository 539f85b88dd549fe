"""The agent layer: configuration, CLI, and (later) decomposition, execution and serving."""
