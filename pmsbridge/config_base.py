"""What every configuration model shares: the error, the base section, secret sources, error sentences.

``pmsbridge.config`` builds the file's schema on these; models that live beside the code
they configure (the tariff rules, the adapters' sections) use them without importing the
whole schema, so the schema can import those models in turn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator
from pydantic_core import PydanticCustomError

# The pydantic error type of a secret whose source failed (see UnresolvedSecret).
SECRET_SOURCE_ERROR = "secret_source"
# Values shipped in examples; a real site must replace them.
PLACEHOLDER_SECRETS = frozenset({"", "...", "changeme", "change-me", "password", "secret", "xxx"})


class ConfigError(Exception):
    """Raised when a configuration file cannot be read or is not valid.

    ``problems`` holds one sentence per problem, each starting with its key path.
    """

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class UnresolvedSecret:
    """Stands in for a secret that its ``_file`` or ``_env`` could not give.

    ``resolve_secrets`` leaves one in the secret's place instead of raising, so that the
    section's other keys are still checked; ``Section`` turns it into the problem, named
    by ``key`` (``password_env``, not ``password``).
    """

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment.

    A secret ``resolve_secrets`` could not read becomes a problem of its own key here.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _unresolved_secret(cls, value: Any) -> Any:
        if isinstance(value, UnresolvedSecret):
            raise PydanticCustomError(SECRET_SOURCE_ERROR, "{problem}", {"key": value.key, "problem": value.problem})
        return value


def resolve_secrets(values: Any, *names: str) -> Any:
    """Fill ``name`` from ``name_file`` or ``name_env`` when the inline value is absent.

    Used in "before" validators of a ``Section`` so that the secret fields themselves stay
    plain ``SecretStr`` and nothing else has to know where a secret came from. A secret
    that cannot be had (two sources, an unreadable file, an unset variable) is left as an
    ``UnresolvedSecret``: every such problem of a section is reported together with the
    section's other problems.
    """
    if not isinstance(values, dict):
        return values
    values = dict(values)
    for name in names:
        sources = [key for key in (name, f"{name}_file", f"{name}_env") if values.get(key) is not None]
        file_key, env_key = f"{name}_file", f"{name}_env"
        if len(sources) > 1:
            for key in (file_key, env_key):
                values.pop(key, None)
            values[name] = UnresolvedSecret(name, f"give only one of {', '.join(sources)}")
        elif file_key in values:
            path = Path(values.pop(file_key))
            try:
                values[name] = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                values[name] = UnresolvedSecret(file_key, f"cannot read {path} ({err.strerror or err})")
        elif env_key in values:
            variable = values.pop(env_key)
            if variable in os.environ:
                values[name] = os.environ[variable]
            else:
                values[name] = UnresolvedSecret(env_key, f"the environment variable {variable} is not set")
    return values


def is_placeholder(secret: SecretStr | None) -> bool:
    return secret is not None and secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS


def describe_error(error: dict[str, Any], prefix: tuple[Any, ...] = ()) -> str:
    """One sentence for a pydantic error, starting with the dotted key path."""
    location = [str(part) for part in (*prefix, *error["loc"]) if part not in ("__root__",)]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == SECRET_SOURCE_ERROR and location:
        location[-1] = error["ctx"]["key"]
    elif error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and section)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{'.'.join(location) or '(top level)'}: {message}"
