"""Run in its own process by test_integration: start the app (settings from the environment), sign in,
predict an image through the real model server, then print the TensorFlow modules that got imported."""

from __future__ import annotations

import asyncio
import json
import sys

from gateway.core.config import Settings
from tests.gateway.helpers import image_bytes, running_gateway


async def main() -> None:
    async with running_gateway(Settings()) as gateway:
        headers = await gateway.login("admin@example.com", "admin")
        response = await gateway.predict(headers, image_bytes(seed=77))
    loaded = sorted(
        m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_serving", "keras")
    )
    print(json.dumps({"status": response.status_code, "body": response.json(), "tensorflow_modules": loaded}))


if __name__ == "__main__":
    asyncio.run(main())
