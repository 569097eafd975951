"""The version labels a roll-out moves (TF Serving's `version_labels`): what `serving.rollout` writes, what
`make run` pins and gives the gateway as STABLE_LABEL and CANARY_LABEL."""

STABLE = "stable"
CANARY = "canary"
