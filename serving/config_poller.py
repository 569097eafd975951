"""`--model_config_file_poll_wait_seconds`: read `--model_config_file` every so often and apply it as a
reload when it differs from the running config (TF Serving's PollFilesystemAndReloadConfig). A file that
does not parse, or a config the manager refuses, is logged once and the running config stays; it is tried
again only once the file says something else."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tensorflow_serving.config import model_server_config_pb2

from serving.config import ConfigError, read_model_server_config
from serving.errors import ServingError
from serving.manager import ModelManager

log = logging.getLogger(__name__)


class ConfigPoller:
    def __init__(self, manager: ModelManager, path: Path, seconds: float) -> None:
        self._manager = manager
        self._path = path
        self._seconds = seconds
        self._refused: model_server_config_pb2.ModelServerConfig | str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="config-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            self.poll_once()

    def poll_once(self) -> None:
        try:
            config = read_model_server_config(self._path)
        except (ConfigError, OSError) as error:
            if str(error) != self._refused:
                log.error("model config %s not applied: %s", self._path, error)
                self._refused = str(error)
            return
        if config == self._manager.config or config == self._refused:
            return
        try:
            self._manager.reload(config)
        except ServingError as error:
            log.error("model config %s not applied: %s", self._path, error.message)
            self._refused = config
        else:
            log.info("model config %s applied", self._path)
            self._refused = None
