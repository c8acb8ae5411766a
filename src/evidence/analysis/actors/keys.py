"""Names and keys shared by the actor modules: stable ids of actors and suggestions, the owner actor."""

from __future__ import annotations

import hashlib

OWNER_ACTOR_ID = "owner"


OWNER_LABEL = "account owner"


PERSON_KINDS = ("email", "phone", "handle")


ACTIONS = ("confirm", "reject", "link", "unlink")


def short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def suggestion_id_for(a: str, b: str) -> str:
    """Stable id of the pair, whatever order the identifiers come in."""
    low, high = sorted((a, b))
    return f"s-{short_hash(low + '|' + high)}"


def pair_of(a: str, b: str) -> tuple[str, str]:
    low, high = sorted((a, b))
    return low, high


def label_key(label: str) -> str:
    return " ".join(label.split()).casefold()
