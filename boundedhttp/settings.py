"""The HTTP bounds as settings fields (HTTP_MAX_HEADER_BYTES, …), shared by every service's pydantic
Settings: `class Settings(HttpBoundsSettings, BaseSettings)`. Its own module, so that importing
`boundedhttp` needs no pydantic (the model server has none)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from boundedhttp.bounds import Bounds


class HttpBoundsSettings(BaseModel):
    http_max_header_bytes: Annotated[int, Field(ge=1024)] = Bounds.max_header_bytes
    http_max_headers: Annotated[int, Field(ge=1)] = Bounds.max_headers
    http_header_timeout_seconds: Annotated[float, Field(gt=0)] = Bounds.header_timeout
    http_body_timeout_seconds: Annotated[float, Field(gt=0)] = Bounds.body_timeout
    http_keep_alive_seconds: Annotated[float, Field(gt=0)] = Bounds.keep_alive_timeout
    http_max_connections: Annotated[int, Field(ge=1)] = Bounds.max_connections

    def http_bounds(self) -> Bounds:
        return Bounds(
            max_header_bytes=self.http_max_header_bytes,
            max_headers=self.http_max_headers,
            header_timeout=self.http_header_timeout_seconds,
            body_timeout=self.http_body_timeout_seconds,
            keep_alive_timeout=self.http_keep_alive_seconds,
            max_connections=self.http_max_connections,
        )
