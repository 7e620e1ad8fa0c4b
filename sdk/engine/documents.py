"""``Document``: a piece of text with metadata, as retrievers return them."""

from __future__ import annotations

from typing import Any

__all__ = ["Document"]


class Document:
    """``Document(page_content, metadata={}, id=None)``."""

    type = "Document"

    def __init__(
        self,
        page_content: str,
        metadata: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.page_content = page_content
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.id = id
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return (self.page_content, self.metadata, self.id) == (other.page_content, other.metadata, other.id)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = f"id={self.id!r}, " if self.id is not None else ""
        return f"Document({shown}metadata={self.metadata!r}, page_content={self.page_content!r})"

    def __str__(self) -> str:
        return (
            f"page_content={self.page_content!r} metadata={self.metadata!r}"
            if self.metadata
            else (f"page_content={self.page_content!r}")
        )
