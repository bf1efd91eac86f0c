"""The watchlist: named people saved from queries, and alerts when new media contains them.

Stored beside the library in ``<library>/app/``: ``watchlist.json`` (names, the query's pooled vector,
confirmed tracklets), one JPEG per query photo, and ``alerts.json`` (the latest alerts). Every write is
a temporary file renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAX_PEOPLE = 500
MAX_ALERTS = 500
MAX_NAME = 80


@dataclass
class WatchedPerson:
    id: int
    name: str
    vector: list[float] = field(repr=False)
    photos: list[str] = field(default_factory=list)  # JPEG file names in the app folder
    confirmed: list[int] = field(default_factory=list)  # tracklet ids confirmed as this person
    created: float = field(default_factory=time.time)
    rejected: list[int] = field(default_factory=list)  # tracklet ids marked "not this person"

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("vector")
        data["photos"] = [f"/api/watchlist/{self.id}/photos/{i}" for i in range(len(self.photos))]
        return data


@dataclass
class Alert:
    id: int
    person_id: int
    person: str
    media_id: int
    media: str  # the file's own name
    moments: int
    best_score: float
    start: float
    created: float = field(default_factory=time.time)


def clean_name(name: str) -> str:
    """A person's name: one line, trimmed; ValueError when empty or too long."""
    text = " ".join(str(name).split())
    if not text:
        raise ValueError("give the person a name")
    if len(text) > MAX_NAME:
        raise ValueError(f"a name is at most {MAX_NAME} characters")
    return text


class Watchlist:
    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._people: dict[int, WatchedPerson] = {}
        self._alerts: list[Alert] = []
        self._load()

    # ------------------------------------------------------------------------------------- storage
    def _load(self) -> None:
        people = self.folder / "watchlist.json"
        alerts = self.folder / "alerts.json"
        try:
            if people.is_file():
                for item in json.loads(people.read_text("utf-8")):
                    person = WatchedPerson(**item)
                    self._people[person.id] = person
            if alerts.is_file():
                self._alerts = [Alert(**a) for a in json.loads(alerts.read_text("utf-8"))]
        except (ValueError, TypeError, KeyError):
            # A damaged file must not stop the app; it is kept aside for the user, not overwritten.
            for path in (people, alerts):
                if path.is_file():
                    os.replace(path, path.with_suffix(f".damaged-{int(time.time())}.json"))
            self._people, self._alerts = {}, []

    def _write(self, name: str, data: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, target)

    def _save_people(self) -> None:
        self._write("watchlist.json", [asdict(p) for p in self._people.values()])

    def _save_alerts(self) -> None:
        self._write("alerts.json", [asdict(a) for a in self._alerts])

    # ------------------------------------------------------------------------------------- people
    def people(self) -> list[WatchedPerson]:
        with self._lock:
            return list(self._people.values())

    def get(self, person_id: int) -> WatchedPerson | None:
        with self._lock:
            return self._people.get(person_id)

    def add(
        self,
        name: str,
        vector: np.ndarray,
        photos: list[bytes],
        confirmed: list[int],
        rejected: Sequence[int] = (),
    ) -> WatchedPerson:
        name = clean_name(name)
        with self._lock:
            self._refuse_taken(name)
            if len(self._people) >= MAX_PEOPLE:
                raise ValueError(f"the watchlist holds at most {MAX_PEOPLE} people; delete some first")
            person_id = max(self._people, default=0) + 1
            self.folder.mkdir(parents=True, exist_ok=True)
            names = []
            for i, jpeg in enumerate(photos):
                file = f"person-{person_id}-{i}.jpg"
                (self.folder / file).write_bytes(jpeg)
                names.append(file)
            person = WatchedPerson(
                person_id,
                name,
                [float(v) for v in np.asarray(vector).reshape(-1)],
                names,
                sorted(confirmed),
                rejected=sorted(rejected),
            )
            self._people[person_id] = person
            self._save_people()
            return person

    def rename(self, person_id: int, name: str) -> WatchedPerson | None:
        name = clean_name(name)
        with self._lock:
            person = self._people.get(person_id)
            if person is not None:
                self._refuse_taken(name, person_id)
                person.name = name
                self._save_people()
            return person

    def _refuse_taken(self, name: str, person_id: int | None = None) -> None:
        """ValueError when another person already has ``name``: two "Bea" would both be alerted and
        named, and nobody could tell which is which."""
        for other in self._people.values():
            if other.id != person_id and other.name.casefold() == name.casefold():
                raise ValueError(
                    f"the watchlist already has {other.name!r}; pick another name or rename them"
                )

    def delete(self, person_id: int) -> bool:
        with self._lock:
            person = self._people.pop(person_id, None)
            if person is None:
                return False
            for file in person.photos:
                (self.folder / file).unlink(missing_ok=True)
            self._alerts = [a for a in self._alerts if a.person_id != person_id]
            self._save_people()
            self._save_alerts()
            return True

    def photo(self, person_id: int, index: int) -> bytes | None:
        person = self.get(person_id)
        if person is None or not 0 <= index < len(person.photos):
            return None
        path = self.folder / person.photos[index]
        return path.read_bytes() if path.is_file() else None

    # ------------------------------------------------------------------------------------- alerts
    def alerts(self) -> list[Alert]:
        with self._lock:
            return list(reversed(self._alerts))

    def add_alert(self, **fields: Any) -> Alert:
        with self._lock:
            alert = Alert(max((a.id for a in self._alerts), default=0) + 1, **fields)
            self._alerts = [*self._alerts, alert][-MAX_ALERTS:]
            self._save_alerts()
            return alert

    def drop_media(self, media_id: int) -> None:
        """Forget alerts about a media file removed from the library."""
        with self._lock:
            self._alerts = [a for a in self._alerts if a.media_id != media_id]
            self._save_alerts()
