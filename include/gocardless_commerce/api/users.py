"""``…/users``: merchants (Qard's legal users) in the registry (``meta.users``).

Deleting a user deletes each of its data connections the way ``DELETE …/data-connections/{id}``
does: token revoked and removed, DAG retired, every row in every schema deleted.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from gocardless_commerce.api import models
from gocardless_commerce.api.access import READ, WRITE_METHODS
from gocardless_commerce.api.deps import existing_user, registry
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.paging import page_body, page_window
from gocardless_commerce.registry import RegistryConflict, RegistryError

router = APIRouter(tags=["users"])


@router.post("/users/legal", status_code=201, dependencies=[WRITE_METHODS["POST"]])
def create_legal_user(body: models.LegalUserRequest) -> models.User:
    identifiers = {key: value for key, value in (("siren", body.siren), ("country", body.country)) if value}
    try:
        user = registry().create_user(body.id or str(uuid.uuid4()), body.name, identifiers)
    except RegistryConflict as error:
        raise ApiError(409, str(error)) from None
    except RegistryError as error:
        raise ApiError(422, str(error)) from None
    return existing_user(user.id)


@router.get("/users", dependencies=[READ])
def list_users(query: Annotated[models.Paging, Query()]) -> models.UserPage:
    ids = [user.id for user in registry().users()]
    limit, offset = page_window(query.page, query.per_page)
    users = [existing_user(user_id) for user_id in ids[offset:offset + limit]]
    return models.UserPage(**page_body(users, page=query.page, per_page=query.per_page, total=len(ids)))


@router.get("/users/{user_id}", dependencies=[READ])
def get_user(user_id: models.UserIdPath) -> models.User:
    return existing_user(user_id)


@router.delete("/users/{user_id}", status_code=204, dependencies=[WRITE_METHODS["DELETE"]])
def delete_user(user_id: models.UserIdPath) -> Response:
    from gocardless_commerce.api.data_connections import release_connection

    existing_user(user_id)
    for connection in registry().data_connections(user_id=user_id):
        release_connection(connection)
    registry().delete_user(user_id)
    return Response(status_code=204)
