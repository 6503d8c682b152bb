"""What the HTTP adapters' tests inject and check: a ``sleep`` that waits for nothing, a
``secret`` that counts its look-ups, and the "no secret in an error or a log" assertion."""

from __future__ import annotations


class Pauses(list[float]):
    """An injected ``sleep``: keeps the pauses asked for, waits for none of them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Secrets:
    """An injected ``secret``: counts the look-ups."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.asked: list[str] = []

    def __call__(self, name: str) -> str:
        self.asked.append(name)
        return self.value


def not_leaked(exc: BaseException, logged: str, *secrets: str) -> None:
    """None of ``secrets`` is in the error, its arguments, or what was logged."""
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc.args)
        assert secret not in logged
