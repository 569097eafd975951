"""Model versions on disk -> loaded servables, like TF Serving's file-system source + manager.

A background thread polls each model's base path every `file_system_poll_wait_seconds`. New aspired
versions (by the model's version policy; default: the latest one) are loaded, warmed up and made
AVAILABLE before versions that are no longer aspired start UNLOADING (availability-preserving policy);
an unloading version stops taking requests and is released once its in-flight requests finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus
from tensorflow_serving.config import model_server_config_pb2

import model_repository
from serving.config import resolve_base_path
from serving.errors import not_found
from serving.servable import Servable

log = logging.getLogger(__name__)

State = ModelVersionStatus.State
MAX_LOAD_ATTEMPTS = 5  # TF Serving's max_num_load_retries + 1


@dataclass
class VersionEntry:
    version: int
    state: int = State.START
    servable: Servable | None = None
    error: str = ""
    attempts: int = 0


class _Model:
    def __init__(self, config: model_server_config_pb2.ModelConfig, base: Path) -> None:
        self.config = config
        self.base = base
        self.versions: dict[int, VersionEntry] = {}
        self.warned_missing = False

    def on_disk(self) -> list[int]:
        return model_repository.versions(self.base)

    def aspired(self, on_disk: list[int]) -> list[int]:
        policy = self.config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return on_disk
        if which == "specific":
            return [version for version in on_disk if version in set(policy.specific.versions)]
        count = policy.latest.num_versions if which == "latest" and policy.latest.num_versions > 0 else 1
        return on_disk[-count:]


class ModelManager:
    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        models_dir: Path | None,
        poll_seconds: float,
        load_servable: Callable[[str, int, Path], Servable],
        warmup_batch_sizes: tuple[int, ...] = (),
        on_unloaded: Callable[[Servable], None] | None = None,
        on_loaded: Callable[[Servable], None] | None = None,
    ) -> None:
        self._models = {
            model.name: _Model(model, resolve_base_path(model.base_path, models_dir))
            for model in config.model_config_list.config
        }
        self._poll_seconds = poll_seconds
        self._warmup_batch_sizes = warmup_batch_sizes
        self._on_unloaded = on_unloaded or (lambda servable: None)
        self._on_loaded = on_loaded or (lambda servable: None)
        self._load_servable = load_servable
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] = lambda: None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load what is on disk now (like TF Serving before it opens its ports), then keep polling."""
        self.poll_once()
        if self._poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="version-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll_once()
            except Exception:
                log.exception("version poll failed")

    def poll_once(self) -> None:
        for model in self._models.values():
            self._poll_model(model)

    def _poll_model(self, model: _Model) -> None:
        on_disk = model.on_disk()
        if not on_disk and not model.warned_missing:
            log.warning("No versions of servable %s found under base path %s", model.config.name, model.base)
            model.warned_missing = True
        aspired = model.aspired(on_disk)
        for version in aspired:
            entry = model.versions.get(version)
            if entry is None:
                self._load(model, VersionEntry(version))
            elif entry.state == State.END and entry.servable is None:
                if not entry.error:  # unloaded earlier and aspired again (e.g. a newer folder was removed)
                    entry.attempts = 0
                if entry.attempts < MAX_LOAD_ATTEMPTS:
                    self._load(model, entry)
        # Unload only once every aspired version that can load has loaded (availability preserving).
        if any(model.versions.get(v) is None or model.versions[v].state == State.LOADING for v in aspired):
            return
        has_available = any(model.versions[v].state == State.AVAILABLE for v in aspired)
        for entry in list(model.versions.values()):
            if entry.state == State.AVAILABLE and entry.version not in aspired:
                if not has_available and entry.version in on_disk:
                    continue  # keep serving the old version while no aspired version works
                self._unload(model, entry)

    def _load(self, model: _Model, entry: VersionEntry) -> None:
        name, path = model.config.name, model.base / str(entry.version)
        with self._lock:
            entry.state, entry.error = State.LOADING, ""
            entry.attempts += 1
            model.versions[entry.version] = entry
        log.info("Loading servable version {name: %s version: %d} from %s", name, entry.version, path)
        try:
            servable = self._load_servable(name, entry.version, path)
            runs = servable.warm_up(self._warmup_batch_sizes)
        except Exception as error:
            log.exception("Loading servable version {name: %s version: %d} failed", name, entry.version)
            with self._lock:
                entry.state, entry.error = State.END, f"{type(error).__name__}: {error}"
            return
        with self._lock:
            entry.servable, entry.state = servable, State.AVAILABLE
        self._on_loaded(servable)
        log.info(
            "Successfully loaded servable version {name: %s version: %d} in %.2fs (%d warmup runs, %s)",
            name,
            entry.version,
            servable.engine.load_seconds,
            runs,
            " ".join(f"{key}={value}" for key, value in servable.runtime_info.items()),
        )
        self.on_change()

    def _unload(self, model: _Model, entry: VersionEntry) -> None:
        with self._lock:
            entry.state = State.UNLOADING
            servable = entry.servable

        def finish() -> None:
            if servable is not None:
                servable.wait_idle()
                self._on_unloaded(servable)
            with self._lock:
                entry.servable, entry.state = None, State.END
            log.info("Unloaded servable version {name: %s version: %d}", model.config.name, entry.version)

        threading.Thread(
            target=finish, name=f"unload-{model.config.name}-{entry.version}", daemon=True
        ).start()

    # --- lookups --------------------------------------------------------------------------------
    @contextmanager
    def acquire(self, name: str, version: int | None) -> Iterator[Servable]:
        """The servable for a request, counted as in flight until the block ends."""
        with self._lock:
            model = self._models.get(name)
            servable = None
            if model is not None:
                available = [e for e in model.versions.values() if e.state == State.AVAILABLE and e.servable]
                if version is None:
                    chosen = max(available, key=lambda e: e.version, default=None)
                else:
                    chosen = next((e for e in available if e.version == version), None)
                servable = chosen.servable if chosen else None
            if servable is None:
                request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
                raise not_found(f"Servable not found for request: {request}")
            context = servable.in_flight()
            context.__enter__()
        try:
            yield servable
        finally:
            context.__exit__(None, None, None)

    def status(self, name: str, version: int | None) -> list[VersionEntry]:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise not_found(f"Could not find any versions of model {name}")
            entries = sorted(model.versions.values(), key=lambda e: -e.version)
            if version is not None:
                entries = [e for e in entries if e.version == version]
                if not entries:
                    raise not_found(f"Could not find version {version} of model {name}")
            elif not entries:
                raise not_found(f"Could not find any versions of model {name}")
            return [VersionEntry(e.version, e.state, None, e.error, e.attempts) for e in entries]

    def model_names(self) -> list[str]:
        return list(self._models)

    def any_available(self) -> bool:
        with self._lock:
            return any(
                entry.state == State.AVAILABLE
                for model in self._models.values()
                for entry in model.versions.values()
            )
