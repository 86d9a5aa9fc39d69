"""An orjson transcoder for eventsourcing, tagging non-JSON types as the library does.

orjson encodes fast but has no decode hook, so tagged objects ({"_type_", "_data_"}) are
restored by one walk over the decoded structure. Events are small and flat, so the walk
is cheap next to encryption and I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder, Transcoding, TranscodingNotRegisteredError

from ledger.domain.values import Erased, PersonalValues

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_CONTAINERS = (dict, list)  # what orjson.loads gives back that may hold tagged values
T = TypeVar("T")


class OrjsonTranscoder(Transcoder):
    def __init__(self) -> None:
        self.types: dict[type, Transcoding] = {}
        self.names: dict[str, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        self.types[transcoding.type] = transcoding
        self.names[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        return self._restore(orjson.loads(data))

    def _encode_obj(self, obj: Any) -> dict[str, Any]:
        try:
            transcoding = self.types[type(obj)]
        except KeyError:
            raise TranscodingNotRegisteredError(
                f"no transcoding registered for {type(obj).__name__}"
            ) from None
        return {"_type_": transcoding.name, "_data_": transcoding.encode(obj)}

    def _restore(self, value: Any) -> Any:
        # Only containers are walked into: an event's many scalars cost one type check
        # each instead of a call.
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                try:
                    transcoding = self.names[value["_type_"]]
                except KeyError:
                    raise TranscodingNotRegisteredError(
                        f"no transcoding registered for {value['_type_']!r}"
                    ) from None
                return transcoding.decode(self._restore(value["_data_"]))
            restore = self._restore
            return {k: restore(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
        if type(value) is list:
            restore = self._restore
            return [restore(v) if type(v) in _CONTAINERS else v for v in value]
        return value


class FunctionTranscoding(Transcoding, Generic[T]):
    """Objects of ``type`` tagged ``name``, encoded and decoded by the functions given."""

    def __init__(self, type_: type[T], name: str, encode: Callable[[T], Any],
                 decode: Callable[[Any], T]) -> None:
        self.type = type_
        self.name = name
        self._encode = encode
        self._decode = decode

    def encode(self, obj: T) -> Any:
        return self._encode(obj)

    def decode(self, data: Any) -> T:
        return self._decode(data)


def ledger_transcoder() -> OrjsonTranscoder:
    transcoder = OrjsonTranscoder()
    for transcoding in (
        FunctionTranscoding(UUID, "uuid_hex", lambda u: u.hex, UUID),
        FunctionTranscoding(datetime, "datetime_iso", datetime.isoformat, datetime.fromisoformat),
        FunctionTranscoding(Erased, "erased", lambda e: e.scope, Erased),
        # Only reached when no encrypting mapper sits in front (tests of the pipeline).
        FunctionTranscoding(PersonalValues, "personal_values", PersonalValues.as_dict,
                            PersonalValues),
    ):
        transcoder.register(transcoding)
    return transcoder
