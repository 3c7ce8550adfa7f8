"""Typed processor state: a processor names the pydantic model of its key's state, and the
runner loads it from the changelog before a step or a tick and dumps it after.

Why a model rather than the JSON dict the changelog keeps: a misspelt key of a dict is a new
key, found (if ever) in production; a model's field is checked by mypy and refused by
validation when a changelog entry does not fit. And a newcomer reads the state's shape in one
class instead of gathering string keys from a processor's methods.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

S = TypeVar("S", bound=BaseModel)


class KeyState(BaseModel):
    """The base of a key's state: unknown fields are refused, so a changelog entry written
    by another version of a processor fails loudly at recovery instead of being half read."""

    model_config = ConfigDict(extra="forbid")


class Stateless(KeyState):
    """The state of a processor that keeps none: each record is judged alone."""


class ModelState(Generic[S]):
    """Gives a processor the runner's ``TypedState`` methods for its model ``state_model``."""

    state_model: type[S]

    def load_state(self, data: dict[str, Any]) -> S:
        """The typed state of a key from its changelog entry (``{}``: a key never seen)."""
        return self.state_model.model_validate(data)

    def dump_state(self, state: S) -> dict[str, Any]:
        """The state as the changelog keeps it (JSON)."""
        return state.model_dump(mode="json")

    def copy_state(self, state: S) -> S:
        """A copy to step on: a failing step leaves the original as it was. Dumped and
        validated again: ten times faster than ``model_copy(deep=True)`` (a deep copy in
        Python) on a site's PUE state, and as deep."""
        return self.state_model.model_validate(state.model_dump())
