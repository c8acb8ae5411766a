"""Which files a chat export can see by name: those of its own folder and of the folders below it.

Exports name their media: WhatsApp writes `IMG-20240101-WA0001.jpg` next to the chat text, Telegram
Desktop `photos/photo_1@....jpg` below `result.json`, Instagram and Messenger keep a thread's
`photos/` beside its `message_1.json`, an iPhone's `chat.db` has `Attachments/xx/yy/GUID/` below it. So
a file sees the files of its own folder and of every folder below it, the nearest first (its own folder,
then one level down, and so on, in sorted order within a level); never a parent's or a neighbouring
folder's files: two phones' exports side by side each keep their own `IMG-...-WA0001.jpg`. Inside an
archive the same rule applies to the member paths, and an archive is a tree of its own (its members never
see the folder the archive lies in, nor the other way round).

Only the files directly in each folder are recorded (one entry per file), so the index stays the size of
the file list; a folder's view is composed when a file of it is extracted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SiblingIndex:
    """Folder tree of a run with the files directly in each folder, by base name."""

    files: dict[str, dict[str, str]] = field(default_factory=dict)  # folder -> name -> sha256
    parents: dict[str, str | None] = field(default_factory=dict)  # folder -> folder above (None: a root)
    _children: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    _views: dict[str, dict[str, str]] = field(default_factory=dict, repr=False, compare=False)

    def add_folder(self, folder: str, parent: str | None) -> None:
        self.parents.setdefault(folder, parent)
        self._children = None

    def add_file(self, folder: str, name: str, sha256: str) -> None:
        """Record a file; the first file of a name in a folder wins (a folder cannot hold two anyway)."""
        self.parents.setdefault(folder, None)
        self.files.setdefault(folder, {}).setdefault(name, sha256)
        self._views.clear()

    def view(self, folder: str | None) -> dict[str, str]:
        """name -> sha256 of what a file in `folder` can see, the nearest file first for each name."""
        if folder is None:
            return {}
        if folder not in self._views:
            if self._children is None:
                self._children = {}
                for child, parent in sorted(self.parents.items()):
                    if parent is not None:
                        self._children.setdefault(parent, []).append(child)
            names: dict[str, str] = {}
            level, seen = [folder], {folder}
            while level:
                below: list[str] = []
                for current in level:
                    for name, sha256 in self.files.get(current, {}).items():
                        names.setdefault(name, sha256)
                    below.extend(c for c in self._children.get(current, ()) if c not in seen)
                seen.update(below)
                level = sorted(below)
            self._views[folder] = names
        return self._views[folder]

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "parents": self.parents}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiblingIndex:
        return cls(files=dict(data.get("files", {})), parents=dict(data.get("parents", {})))
