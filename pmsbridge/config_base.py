"""What every configuration model shares: the error, the base section, secret sources, error sentences.

``pmsbridge.config`` builds the file's schema on these; models that live beside the code
they configure (the tariff rules, the adapters' sections) use them without importing the
whole schema, so the schema can import those models in turn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

# Values shipped in examples; a real site must replace them.
PLACEHOLDER_SECRETS = frozenset({"", "...", "changeme", "change-me", "password", "secret", "xxx"})


class ConfigError(Exception):
    """Raised when a configuration file cannot be read or is not valid.

    ``problems`` holds one sentence per problem, each starting with its key path.
    """

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def resolve_secrets(values: Any, *names: str) -> Any:
    """Fill ``name`` from ``name_file`` or ``name_env`` when the inline value is absent.

    Used in "before" validators so that the secret fields themselves stay plain
    ``SecretStr`` and nothing else has to know where a secret came from.
    """
    if not isinstance(values, dict):
        return values
    values = dict(values)
    for name in names:
        sources = [key for key in (name, f"{name}_file", f"{name}_env") if values.get(key) is not None]
        if len(sources) > 1:
            raise ValueError(f"give only one of {', '.join(sources)}")
        file_key, env_key = f"{name}_file", f"{name}_env"
        if file_key in values:
            path = Path(values.pop(file_key))
            try:
                values[name] = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ValueError(f"{file_key}: cannot read {path} ({err.strerror or err})") from None
        elif env_key in values:
            variable = values.pop(env_key)
            if variable not in os.environ:
                raise ValueError(f"{env_key}: the environment variable {variable} is not set")
            values[name] = os.environ[variable]
    return values


def is_placeholder(secret: SecretStr | None) -> bool:
    return secret is not None and secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS


def describe_error(error: dict[str, Any], prefix: tuple[Any, ...] = ()) -> str:
    """One sentence for a pydantic error, starting with the dotted key path."""
    location = [str(part) for part in (*prefix, *error["loc"]) if part not in ("__root__",)]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and section)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{'.'.join(location) or '(top level)'}: {message}"
