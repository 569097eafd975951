"""TF Serving's config-file messages that the `tensorflow-serving-api` wheel does not ship.

`BatchingParameters` is the format of `--batching_parameters_file`, `MonitoringConfig` that of
`--monitoring_config_file` (the wheel has `model_server_config_pb2` for `--model_config_file`). Same full
names, field names and numbers as TF Serving's, so text and binary forms are identical.
"""

from tfs_protos import require_generated

require_generated()

# After the check, so a fresh checkout gets its message instead of a bare ModuleNotFoundError.
from tfs_protos.generated.tensorflow_serving.config.monitoring_config_pb2 import (  # noqa: E402
    MonitoringConfig,
    PrometheusConfig,
)
from tfs_protos.generated.tensorflow_serving.servables.tensorflow.session_bundle_config_pb2 import (  # noqa: E402
    BatchingParameters,
)

__all__ = ["BatchingParameters", "MonitoringConfig", "PrometheusConfig"]
