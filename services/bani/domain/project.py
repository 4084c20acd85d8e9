"""Connection settings and credential references.

Credentials are never stored in configuration as plain text: a setting names
where the secret lives, as ``${env:VAR}`` or ``${file:/path}`` (Kubernetes
mounts Secrets as files).  A bare name is read as an environment variable, as
Bani's connector guide does.  A secret that arrives some other way (a password
typed inside a DSN URL) is wrapped in :class:`Secret`, which never shows its
value in ``repr``, ``str``, logs or errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

from bani.errors import ConfigurationError

__all__ = ["ConnectionConfig", "Secret", "resolve_credential"]

_REFERENCE = re.compile(r"^\$\{(?P<kind>env|file):(?P<target>[^}]+)\}$")

#: URL schemes accepted by :meth:`ConnectionConfig.from_url`, mapped to dialects.
URL_SCHEMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "sqlite",
        "postgresql": "postgresql",
        "postgres": "postgresql",
        "mysql": "mysql",
        "mariadb": "mysql",
    }
)


class Secret:
    """A secret value that refuses to be printed.

    ``reveal()`` is the one way to get the value, which keeps the places that
    handle secrets easy to find.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def resolve_credential(reference: str | None, *, setting: str = "credential") -> str | None:
    """Resolve ``${env:VAR}``, ``${file:/path}`` or a bare env var name.

    Returns None when ``reference`` is empty.  A reference that names a missing
    variable or an unreadable file is a :class:`ConfigurationError` naming the
    setting and the variable or path, never the value.  A file's trailing
    newline is dropped (``kubectl create secret --from-file`` keeps one).
    """
    if not reference:
        return None
    match = _REFERENCE.match(reference.strip())
    if match is None:
        if reference.startswith("${"):
            raise ConfigurationError(
                f"credential reference {reference!r} is not ${{env:VAR}} or ${{file:/path}}",
                setting=setting,
            )
        kind, target = "env", reference.strip()
    else:
        kind, target = match["kind"], match["target"]
    if kind == "env":
        value = os.environ.get(target)
        if value is None:
            raise ConfigurationError(
                f"environment variable {target} named by {setting} is not set", setting=setting
            )
        return value
    try:
        return Path(target).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the file {target} named by {setting}: {exc.strerror}", setting=setting
        ) from None


def _freeze(options: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(options or {}))


@dataclass(frozen=True)
class ConnectionConfig:
    """Where a database is and how to log in to it.

    ``username_env`` / ``password_env`` hold credential *references* (see
    :func:`resolve_credential`).  ``username`` holds a literal user name (not a
    secret).  ``password`` holds a :class:`Secret` that came inside a DSN and
    is excluded from ``repr`` and comparisons.  ``options`` are dialect options
    (``sslmode``, ``zero_date``, ``schema`` …), read-only after construction.
    """

    dialect: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    password: Secret | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _freeze(self.options))
        if not self.dialect:
            raise ConfigurationError("a connection needs a dialect", setting="dialect")

    def resolve_username(self) -> str | None:
        """The user name: a reference wins over a literal one."""
        resolved = resolve_credential(self.username_env, setting="username_env")
        return resolved if resolved is not None else self.username

    def resolve_password(self) -> str | None:
        """The password: a reference wins over one that came inside a DSN."""
        resolved = resolve_credential(self.password_env, setting="password_env")
        if resolved is not None:
            return resolved
        return self.password.reveal() if self.password is not None else None

    def describe(self) -> str:
        """Where this points, safe for logs and errors (never the password)."""
        if self.dialect == "sqlite":
            return f"sqlite:{self.database}"
        user = self.username or ""
        at = f"{user}@" if user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.dialect}://{at}{self.host or 'localhost'}{port}/{self.database or ''}"

    @classmethod
    def from_url(cls, url: str, *, password_env: str | None = None) -> ConnectionConfig:
        """Parse a DSN URL (``sqlite:///rel.db``, ``postgresql://u@h:5432/db`` …).

        A password inside the URL is kept as a :class:`Secret`; ``password_env``
        names a reference that takes precedence.  Query parameters become
        ``options``.  Errors name the URL without its password.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower().split("+", 1)[0]
        dialect = URL_SCHEMES.get(scheme)
        safe_url = _without_password(url)
        if dialect is None:
            known = ", ".join(sorted(URL_SCHEMES))
            raise ConfigurationError(
                f"unknown DSN scheme {scheme!r} in {safe_url}; known schemes: {known}",
                setting="dsn",
            )
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        if dialect == "sqlite":
            # sqlite:///relative.db -> "relative.db"; sqlite:////abs.db -> "/abs.db"
            path = unquote(url.split(":", 1)[1])
            if not path.startswith("///"):
                raise ConfigurationError(
                    f"a SQLite DSN is sqlite:///relative.db or sqlite:////absolute.db, not {url}",
                    setting="dsn",
                )
            file_path = path[3:].split("?", 1)[0]
            if not file_path:
                raise ConfigurationError(f"no database file in {url}", setting="dsn")
            return cls(dialect=dialect, database=file_path, options=options)
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"invalid port in {safe_url}", setting="dsn") from None
        database = unquote(parts.path.lstrip("/")) or None
        password = Secret(unquote(parts.password)) if parts.password else None
        return cls(
            dialect=dialect,
            host=parts.hostname,
            port=port,
            database=database,
            username=unquote(parts.username) if parts.username else None,
            password=password,
            password_env=password_env,
            options=options,
        )


def _without_password(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
