"""One way to call AWS: a boto3 client made on first use, whose errors become the project's.

Throttling and server-side faults become a ``RetryableError``; refusals (no such zone, no
permission, a bad request) a ``FatalError``; both name the operation and AWS's error code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# botocore is imported by the first call, with the client: a handler that makes no AWS call
# (a refused event, an empty stream batch) does not import it.

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class AwsApi:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        label: str,
        retryable: Collection[str] = (),
        *,
        retry_error: type[ArbiterError] = ProviderError,
        reject_error: type[ArbiterError] = ProviderRejected,
    ) -> None:
        self._factory = client_factory
        self._client: Any = None
        self.label = label
        self.retryable = THROTTLING | frozenset(retryable)
        self.retry_error = retry_error
        self.reject_error = reject_error

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            raise self.translate(op, exc) from exc
        except BotoCoreError as exc:
            raise self.retry_error(f"{self.label} {op}: {type(exc).__name__}") from exc

    def translate(self, op: str, exc: ClientError) -> ArbiterError:
        code = error_code(exc)
        if code in self.retryable:
            return self.retry_error(f"{self.label} {op}: {code}")
        message = str(exc.response.get("Error", {}).get("Message", ""))
        detail = f": {message}" if message else ""
        return self.reject_error(f"{self.label} {op}: {code}{detail}"[:300])
