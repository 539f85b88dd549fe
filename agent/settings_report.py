"""Where each effective setting came from, for ``tog config``: a value is only half the answer when a
deployment mixes defaults, a ``TOG_CONFIG`` file and environment variables.

    >>> rows = effective_settings()
    >>> next(r for r in rows if r.name == "TOG_AGENT_MAX_DEPTH").value
    5
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import EnvSettingsSource

from agent.config import ToGSettings
from tools.model_settings import config_file, config_file_source, env_name


class SettingRow(BaseModel):
    """One leaf setting: its variable, its effective value (secrets masked) and its source."""

    name: str
    section: str
    field: str
    value: Any
    source: str
    description: str = ""


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def effective_settings(settings: ToGSettings | None = None, **given: Any) -> list[SettingRow]:
    """Every setting of ``settings`` (default: built from the environment and ``given``), with its source:
    ``argument``, ``env TOG_X_Y``, ``file PATH`` or ``default``."""
    settings = settings if settings is not None else ToGSettings(**given)
    from_env = EnvSettingsSource(ToGSettings)()
    file_source = config_file_source(ToGSettings)
    from_file = file_source() if file_source is not None else {}
    path = config_file()
    rows = []
    for section_name in ToGSettings.model_fields:
        section = getattr(settings, section_name)
        for field_name, field in type(section).model_fields.items():
            name = env_name(section_name, field_name)
            if field_name in (given.get(section_name) or {}):
                source = "argument"
            elif field_name in (from_env.get(section_name) or {}):
                source = f"env {name}"
            elif field_name in (from_file.get(section_name) or {}):
                source = f"file {path}"
            else:
                source = "default"
            rows.append(
                SettingRow(
                    name=name,
                    section=section_name,
                    field=field_name,
                    value=_plain(getattr(section, field_name)),
                    source=source,
                    description=field.description or "",
                )
            )
    return rows
