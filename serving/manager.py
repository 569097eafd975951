"""Model versions on disk -> loaded servables, like TF Serving's file-system source, manager and ServerCore.

A background thread polls each model's base path every `file_system_poll_wait_seconds`. New aspired
versions (by the model's version policy: `latest { num_versions }` (default: the latest one), `all`, or
`specific { versions }`) are loaded, warmed up and made AVAILABLE before versions that are no longer
aspired start UNLOADING (availability-preserving policy); an unloading version stops taking requests and
is released once its in-flight requests finish.

Version labels and config reloads follow ServerCore (server_core.cc, serving_config.md):
- a request names a version by number, by label, or neither (the latest AVAILABLE version);
- a label may point only at a version that is AVAILABLE when the config is applied, start-up included;
  with `allow_labels_for_unavailable`, a new label (one not pointing elsewhere already) may point at a
  version that has not loaded yet, so a label never moves before its new version can answer;
- `reload` applies a whole new `model_config_list` (only that kind; no model changes platform): models
  gone from it are unloaded, new ones loaded before it returns, changed policies polled at once. A config
  whose labels fail the rule above is refused whole (FAILED_PRECONDITION) and nothing changes. Unlike TF
  Serving, a reload may point a model only under the models folder or at a base path the server started
  with: whoever can call the reload RPC cannot make the server load a SavedModel from anywhere else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus
from tensorflow_serving.config import model_server_config_pb2

import model_repository
from serving.config import ConfigError, models_root, resolve_base_path, validate_model_config_list
from serving.errors import ServingError, invalid_argument, not_found
from serving.servable import Servable

log = logging.getLogger(__name__)

State = ModelVersionStatus.State
MAX_LOAD_ATTEMPTS = 5  # TF Serving's max_num_load_retries + 1
UNAVAILABLE_LABEL_HINT = (
    " (--allow_version_labels_for_unavailable_models lets a new label point at a version that has not "
    "loaded yet)"
)


@dataclass(frozen=True)
class VersionRequest:
    """Which version a request asks for: a number, a label, or neither (the latest available)."""

    number: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        return "latest" if self.number is None and self.label is None else str(self.label or self.number)


LATEST = VersionRequest()


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
        self.labels: dict[str, int] = {}
        self.warned_missing = False
        self.removed = False  # gone from the config: its versions unload, then it is forgotten

    def on_disk(self) -> list[int]:
        return model_repository.versions(self.base)

    def aspired(self, on_disk: list[int]) -> list[int]:
        if self.removed:
            return []
        policy = self.config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return on_disk
        if which == "specific":
            return [version for version in on_disk if version in set(policy.specific.versions)]
        count = policy.latest.num_versions if which == "latest" and policy.latest.num_versions > 0 else 1
        return on_disk[-count:]

    def available(self, version: int) -> bool:
        entry = self.versions.get(version)
        return entry is not None and entry.state == State.AVAILABLE


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
        allow_labels_for_unavailable: bool = False,
    ) -> None:
        self._config = model_server_config_pb2.ModelServerConfig()
        self._initial = config
        self._models_dir = models_dir
        # A reload may point models only at these (a caller of the reload RPC chooses the paths): the local
        # models folder that stands in for /models, and the base paths the server started with.
        self._allowed_roots = {
            models_root(models_dir),
            *(resolve_base_path(m.base_path, models_dir) for m in config.model_config_list.config),
        }
        self._started = False
        self._models: dict[str, _Model] = {}
        self._retired: list[_Model] = []  # removed from the config, versions still unloading
        self._poll_seconds = poll_seconds
        self._warmup_batch_sizes = warmup_batch_sizes
        self._on_unloaded = on_unloaded or (lambda servable: None)
        self._on_loaded = on_loaded or (lambda servable: None)
        self._load_servable = load_servable
        self._allow_labels_for_unavailable = allow_labels_for_unavailable
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one config change (and one poll) at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] = lambda: None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Apply the initial config and load what is on disk now (like TF Serving before it opens its
        ports), then keep polling. A label in the initial config fails the start unless labels may point
        at unavailable versions (TF Serving validates labels before anything has loaded)."""
        self.reload(self._initial)
        self._started = True
        if self._poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="version-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll_once()
            except Exception:
                log.exception("version poll failed")

    def poll_once(self) -> None:
        with self._reload_lock:
            self._poll_all()

    def _poll_all(self) -> None:
        for model in [*self._models.values(), *self._retired]:
            self._poll_model(model)
        with self._lock:
            self._retired = [model for model in self._retired if not _ended(model)]

    # --- config ---------------------------------------------------------------------------------
    @property
    def config(self) -> model_server_config_pb2.ModelServerConfig:
        with self._lock:
            copy = model_server_config_pb2.ModelServerConfig()
            copy.CopyFrom(self._config)
            return copy

    def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Apply `config` as TF Serving's ReloadConfig does; ServingError when it is refused (nothing
        changes then)."""
        if config.WhichOneof("config") != "model_config_list":
            raise invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList "
                "is currently supported"
            )
        try:
            validate_model_config_list(config)
        except ConfigError as error:
            raise invalid_argument(str(error)) from error
        with self._reload_lock:
            configs = {model.name: model for model in config.model_config_list.config}
            with self._lock:
                for name, model_config in configs.items():
                    old = self._models.get(name)
                    if old is not None and _platform(old.config) != _platform(model_config):
                        raise invalid_argument(
                            f"Illegal to change a model's platform. For model {name} platform was "
                            f"{_platform(old.config)} and new platform requested is {_platform(model_config)}"
                        )
                for name, model_config in configs.items():
                    base = resolve_base_path(model_config.base_path, self._models_dir)
                    if self._started and not any(base.is_relative_to(r) for r in self._allowed_roots):
                        raise invalid_argument(
                            f"model {name}: base_path {model_config.base_path!r} is outside the models "
                            "folder this server was started with"
                        )
                labels = {name: self._checked_labels(name, c) for name, c in configs.items()}
                for name in [name for name in self._models if name not in configs]:
                    self._retire(self._models.pop(name))
                for name, model_config in configs.items():
                    base = resolve_base_path(model_config.base_path, self._models_dir)
                    model = self._models.get(name)
                    if model is not None and model.base != base:  # another folder: its versions go
                        self._retire(self._models.pop(name))
                        model = None
                    if model is None:
                        model = self._models[name] = _Model(model_config, base)
                    model.config = model_config
                    model.labels = labels[name]
                self._config.CopyFrom(config)
            log.info("applied model config: %s", ", ".join(sorted(configs)) or "no models")
            self._poll_all()

    def _retire(self, model: _Model) -> None:
        model.removed = True
        self._retired.append(model)

    def _checked_labels(self, name: str, config: model_server_config_pb2.ModelConfig) -> dict[str, int]:
        """ServerCore::UpdateModelVersionLabelMap's rule, against what is AVAILABLE now."""
        model = self._models.get(name)
        current = model.labels if model is not None else {}
        found = {}
        for label, version in config.version_labels.items():
            allowed = self._allow_labels_for_unavailable and current.get(label, version) == version
            if not allowed and not (model is not None and model.available(version)):
                hint = "" if self._allow_labels_for_unavailable else UNAVAILABLE_LABEL_HINT
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Request to assign label to version {version} of model {name}, which is not currently "
                    f"available for inference{hint}",
                )
            found[label] = int(version)
        return found

    # --- loading and unloading -------------------------------------------------------------------
    def _poll_model(self, model: _Model) -> None:
        on_disk = [] if model.removed else model.on_disk()
        if not on_disk and not model.warned_missing and not model.removed:
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
                if not has_available and entry.version in on_disk and not model.removed:
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
                entry.state, entry.error = State.END, _public_reason(error, path)
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
            self.on_change()

        threading.Thread(
            target=finish, name=f"unload-{model.config.name}-{entry.version}", daemon=True
        ).start()

    # --- lookups --------------------------------------------------------------------------------
    def _resolve(self, model: _Model, request: VersionRequest) -> int | None:
        if request.label is not None:
            if request.label not in model.labels:
                raise invalid_argument(f"Unrecognized servable version label: {request.label:.64}")
            return model.labels[request.label]
        return request.number

    @contextmanager
    def acquire(self, name: str, request: VersionRequest = LATEST) -> Iterator[Servable]:
        """The servable for a request, counted as in flight until the block ends."""
        with self._lock:
            model = self._models.get(name)
            servable = None
            version = None
            if model is not None:
                version = self._resolve(model, request)
                available = [e for e in model.versions.values() if e.state == State.AVAILABLE and e.servable]
                if version is None:
                    chosen = max(available, key=lambda e: e.version, default=None)
                else:
                    chosen = next((e for e in available if e.version == version), None)
                servable = chosen.servable if chosen else None
            if servable is None:
                which = f"Latest({name})" if version is None else f"Specific({name}, {version})"
                raise not_found(f"Servable not found for request: {which}")
            context = servable.in_flight()
            context.__enter__()
        try:
            yield servable
        finally:
            context.__exit__(None, None, None)

    def status(self, name: str, request: VersionRequest = LATEST) -> list[VersionEntry]:
        """Every version's state, or the one a number or label names (TF Serving ignores a label here and
        answers every version; this answers the labelled one, which is what a label asks)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise not_found(f"Could not find any versions of model {name}")
            version = self._resolve(model, request)
            entries = sorted(model.versions.values(), key=lambda e: -e.version)
            if version is not None:
                entries = [e for e in entries if e.version == version]
                if not entries:
                    raise not_found(f"Could not find version {version} of model {name}")
            elif not entries:
                raise not_found(f"Could not find any versions of model {name}")
            return [VersionEntry(e.version, e.state, None, e.error, e.attempts) for e in entries]

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            model = self._models.get(name)
            return dict(model.labels) if model is not None else {}

    def model_names(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def names_view(self) -> Collection[str]:
        """The served model names, live, for membership tests on the request path (no lock, no copy: a
        dict's keys view is safe to test from any thread while the manager changes the dict)."""
        return self._models.keys()

    def any_available(self) -> bool:
        with self._lock:
            return any(
                model.available(version) for model in self._models.values() for version in model.versions
            )


def _ended(model: _Model) -> bool:
    return all(entry.state == State.END and entry.servable is None for entry in model.versions.values())


def _platform(config: model_server_config_pb2.ModelConfig) -> str:
    return config.model_platform or "tensorflow"


def _public_reason(error: Exception, path: Path) -> str:
    """Why a load failed, as the status answer tells any caller: without this machine's paths."""
    text = f"{type(error).__name__}: {error}".replace(str(path), f"<version {path.name}>")
    return text.replace(str(path.parent), "<model base path>")
