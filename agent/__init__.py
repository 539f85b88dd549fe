"""The agent layer: settings, decomposition, parameter binding, execution, answers, and the ways in
(Python API, ``tog`` CLI, REST server, YAML workflows)."""
