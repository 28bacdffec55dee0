"""Authorization: the local list, the cache, Authorize.req, and the offline rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..authorization import (
    ACCEPTED,
    AuthorizationCache,
    LocalList,
    answered_status,
    effective_status,
    parent_of,
)
from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_AUTH_CACHE = "authorization_cache"
DOCUMENT_LOCAL_LIST = "local_list"


@dataclass(frozen=True, slots=True)
class IdTagCheck:
    accepted: bool
    # The idTag's group (parentIdTag), when the list, the cache or the CSMS named one.
    parent_id_tag: str | None = None


class AuthorizationService:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.cache = AuthorizationCache()
        self.local_list = LocalList()

    async def restore(self) -> None:
        journal = self.ctx.journal
        self.local_list = LocalList.from_dict(await journal.load_document(DOCUMENT_LOCAL_LIST))
        cache = await journal.load_document(DOCUMENT_AUTH_CACHE)
        self.cache = AuthorizationCache(dict(cache) if isinstance(cache, dict) else {})

    def known(self, id_tag: str) -> dict[str, Any] | None:
        """What the local list (first) or the cache say of an idTag, if anything."""
        config = self.ctx.config
        if config.get_bool("LocalAuthListEnabled"):
            listed = self.local_list.lookup(id_tag)
            if listed is not None:
                return listed
        if config.get_bool("AuthorizationCacheEnabled"):
            return self.cache.lookup(id_tag)
        return None

    def known_parent(self, id_tag: str) -> str | None:
        return parent_of(self.known(id_tag))

    async def authorize(self, id_tag: str) -> bool:
        return (await self.check(id_tag)).accepted

    async def check(self, id_tag: str) -> IdTagCheck:
        """Local list / cache (LocalPreAuthorize), Authorize.req online, offline rules otherwise."""
        config = self.ctx.config
        info = self.known(id_tag)
        known = None if info is None else effective_status(info)
        parent = parent_of(info)
        if known == ACCEPTED and config.get_bool("LocalPreAuthorize"):
            return IdTagCheck(True, parent)  # section 9.1.13: no Authorize.req at all
        if self.ctx.accepted.is_set():
            try:
                result = await self.ctx.call("Authorize", {"idTag": id_tag})
            except (TimeoutError, NotConnectedError):
                pass
            except OcppCallError:
                return IdTagCheck(False)
            else:
                answer = result["idTagInfo"]
                self.remember(id_tag, answer)
                return IdTagCheck(answered_status(answer) == ACCEPTED, parent_of(answer))
        if known is not None:  # offline, and the tag is known
            return IdTagCheck(
                known == ACCEPTED and config.get_bool("LocalAuthorizeOffline"), parent
            )
        return IdTagCheck(config.get_bool("AllowOfflineTxForUnknownId"))

    def remember(self, id_tag: str, info: dict[str, Any]) -> None:
        if self.ctx.config.get_bool("AuthorizationCacheEnabled"):
            self.cache.remember(id_tag, info)
            self.ctx.persist(
                self.ctx.save_document(DOCUMENT_AUTH_CACHE, dict(self.cache.entries)), "cache"
            )

    async def clear_cache(self) -> bool:
        """ClearCache: True once the empty cache is durable."""
        if not await self.ctx.save_document(DOCUMENT_AUTH_CACHE, {}):
            return False
        self.cache.entries.clear()
        return True

    def list_version(self) -> int:
        """GetLocalListVersion: -1 when the local list is off."""
        if not self.ctx.config.get_bool("LocalAuthListEnabled"):
            return -1
        return self.local_list.version

    async def send_local_list(
        self, version: int, update_type: str, items: list[dict[str, Any]]
    ) -> str:
        """SendLocalList: the answer, Accepted only once the new list is durable."""
        config = self.ctx.config
        if not config.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        if len(items) > config.get_int("SendLocalListMaxLength"):
            return "Failed"
        updated = LocalList(self.local_list.version, dict(self.local_list.entries))
        status = updated.apply(
            version, update_type, items, config.get_int("LocalAuthListMaxLength")
        )
        if status != ACCEPTED:
            return status
        if not await self.ctx.save_document(DOCUMENT_LOCAL_LIST, updated.to_dict()):
            return "Failed"
        self.local_list = updated
        return status
