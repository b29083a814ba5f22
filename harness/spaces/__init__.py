"""Search spaces. `get_space(name)` resolves a registered space (harness.registry.SPACES) to its
`SearchSpace` object (harness.spaces.base); nothing outside `harness/spaces/<name>/` names a concrete space."""

from __future__ import annotations

from harness.spaces.base import SearchSpace


def get_space(name: str) -> SearchSpace:
    """The registered space `name` (InputError listing the allowed names otherwise)."""
    from harness import registry

    return registry.resolve_space(name)


def space_names() -> tuple[str, ...]:
    from harness import registry

    return tuple(registry.SPACES)
