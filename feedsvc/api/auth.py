"""Bearer tokens: shown once at creation, stored only as a SHA-256 hash, each with its rights."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, Unauthorized

from feedsvc import db
from feedsvc.models import ApiToken

# "metrics": scraping /metrics (operators' monitoring), nothing else; "read" does not include it.
RIGHTS = ("posts", "categories", "sources", "read", "metrics")
F = TypeVar("F", bound=Callable[..., Any])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, rights: list[str]) -> str:
    token = "fs_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(token), rights=sorted(set(rights))))
    return token


def current_rights() -> list[str]:
    """The rights of the request's bearer token (401 without a valid one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    digest = hash_token(token.strip())
    row = (
        db.session()
        .execute(
            select(ApiToken.token_hash, ApiToken.rights).where(
                ApiToken.token_hash == digest, ApiToken.revoked.is_(False)
            )
        )
        .first()
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("unknown or revoked token")
    return list(row.rights)


def require(right: str) -> Callable[[F], F]:
    """Reads need ``right`` or "read"; writes need ``right``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rights = current_rights()
            reading = request.method in {"GET", "HEAD"}
            if right not in rights and not (reading and "read" in rights):
                raise Forbidden(f"this token lacks the {right!r} right")
            g.token_rights = rights
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.rights"] = RIGHTS
