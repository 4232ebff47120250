"""What a client's credentials may do on a server: signed in, permitted to view, permitted to manage.

`/status` needs no token, so it proves only that the address answers. `check_access` makes two
authenticated calls:
- a read: `GET /datasets?logs=false&bin_count=1`, the cheapest listing (it needs `ueba-view`);
- a write that cannot change anything: a DELETE of a dataset id made up for the check (a random UUID no
  dataset has). The server checks the permission first, so `ueba-manage` answers 404 and a view-only
  client 403. Nothing exists to be deleted, so the check deletes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from ueba_api.errors import ApiStatusError, AuthenticationError, NotFoundError, PermissionDeniedError
from ueba_api.models import DatasetList


class ChecksAccess(Protocol):
    """The two calls of `UebaClient` that `check_access` makes."""

    def list_datasets(self, logs: bool | None = None, bin_count: int | None = None) -> DatasetList: ...

    def delete_dataset(self, dataset_id: str) -> None: ...


@dataclass(frozen=True)
class Access:
    signed_in: bool
    can_view: bool
    can_manage: bool | None
    """None: not known (the server answered the check with something else than 403 or 404)."""
    refusal: str | None = None
    """The server's sentence when it refused to sign in or to show the datasets."""

    @property
    def summary(self) -> str:
        """'signed in · view and manage', 'signed in · view only', 'not signed in', ..."""
        if not self.signed_in:
            return "not signed in"
        if not self.can_view:
            return "signed in · not permitted to view"
        if self.can_manage is None:
            return "signed in · view (manage not known)"
        return "signed in · view and manage" if self.can_manage else "signed in · view only"


def check_access(client: ChecksAccess) -> Access:
    """What the client's credentials may do (see the module docstring). Connection failures and other
    errors of the read are raised as they are; refusals (401, 403) become an `Access`."""
    try:
        client.list_datasets(logs=False, bin_count=1)
    except AuthenticationError as error:
        return Access(signed_in=False, can_view=False, can_manage=False, refusal=str(error))
    except PermissionDeniedError as error:
        return Access(signed_in=True, can_view=False, can_manage=None, refusal=str(error))
    try:
        client.delete_dataset(str(uuid.uuid4()))
    except NotFoundError:
        return Access(signed_in=True, can_view=True, can_manage=True)
    except PermissionDeniedError:
        return Access(signed_in=True, can_view=True, can_manage=False)
    except ApiStatusError:
        return Access(signed_in=True, can_view=True, can_manage=None)
    # A server that answers a made-up id's DELETE with success: it did pass the permission check.
    return Access(signed_in=True, can_view=True, can_manage=True)
