"""The gateway's floor: a bare FastAPI endpoint that takes the same multipart upload as `POST /model/predict`
and returns a fixed JSON answer, served as the gateway is (`python -m loadtest.floor_http --port N`: uvicorn
with boundedhttp's bounds, no access log).

What the gateway costs beyond this is its own work (token, storage, database, the gRPC call, checks);
what this costs is uvicorn, FastAPI and the multipart parser, which any such service pays.
"""

from __future__ import annotations

import argparse
from typing import Annotated

import uvicorn
from fastapi import FastAPI, File, UploadFile
from pydantic import BaseModel

from boundedhttp import Bounds, uvicorn_kwargs
from stack.procs import LOCAL

PATH = "/model/predict"
APP = "loadtest.floor_http:app"


class Answer(BaseModel):
    """About the size of the gateway's answer, and with the field the bench checks (`cached`)."""

    prediction: str
    score: float
    image_file_name: str
    top_k: list[str]
    cached: bool
    size: int


app = FastAPI(title="bench floor", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post(PATH, response_model=Answer)
async def predict(file: Annotated[UploadFile, File()]) -> Answer:
    content = await file.read()
    return Answer(
        prediction="floor",
        score=1.0,
        image_file_name=file.filename or "",
        top_k=["floor", "of", "the", "gateway", "path"],
        cached=False,
        size=len(content),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        APP, host=LOCAL, port=args.port, log_level="warning", access_log=False, **uvicorn_kwargs(Bounds())
    )


if __name__ == "__main__":
    main()
