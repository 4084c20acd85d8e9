"""One table of actions per service: ``list_actions`` and ``do_action`` both read it.

An action takes a protobuf request in the action body and answers with one
``Result`` holding a protobuf message.  :class:`ActionTable` decodes the body
as the action's declared request type (so every handler gets a parsed,
typed message), and an unknown action name is an
:class:`~bani.wire.errors.InvalidRequest` that lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf.message import Message
from pyarrow import flight

from bani.errors import closest_match
from bani.wire.codec import decode
from bani.wire.errors import InvalidRequest

__all__ = ["ActionSpec", "ActionTable"]

Handler = Callable[[flight.ServerCallContext, Any], Message]


@dataclass(frozen=True)
class ActionSpec:
    """An action: its name, a one-line description, its request type and handler."""

    name: str
    description: str
    request_type: type[Message]
    handler: Handler


class ActionTable:
    """The actions of one service, in the order ``list_actions`` shows them."""

    def __init__(self, specs: Iterable[ActionSpec]) -> None:
        self._specs: Mapping[str, ActionSpec] = {spec.name: spec for spec in specs}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def list_actions(self) -> list[tuple[str, str]]:
        return [(spec.name, spec.description) for spec in self._specs.values()]

    def dispatch(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        """Run the named action; its result is one ``Result`` with the encoded reply."""
        spec = self._specs.get(action.type)
        if spec is None:
            hint = closest_match(action.type, self._specs)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise InvalidRequest(
                f"unknown action {action.type!r}; this service has "
                f"{', '.join(self._specs)}{suggestion}"
            )
        body = action.body if action.body is not None else b""
        request = decode(spec.request_type, body, f"the body of action {spec.name!r}")
        reply = spec.handler(context, request)
        return iter([flight.Result(pa.py_buffer(reply.SerializeToString()))])
