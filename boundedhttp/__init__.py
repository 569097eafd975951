"""Bounded HTTP/1.1 for every uvicorn the project runs: header size and count, a header-read deadline from
the first byte of a request (trickled bytes do not extend it), a body-read deadline, a keep-alive timeout
and a cap on open connections per process. TF-free; `uvicorn.run(app, **uvicorn_kwargs(Bounds()))`."""

from boundedhttp.bounds import Bounds, uvicorn_kwargs

__all__ = ["Bounds", "uvicorn_kwargs"]
