#!/bin/sh
# The deploy's one-shot export job: write $MODELS_DIR/$MODEL/<version>/ unless a version is already there
# (EXPORT_NEW_VERSION=1: write the next version anyway, for a rollout).
# MODEL=resnet50 takes its weights from RESNET50_WEIGHTS_FILE when that file is not empty, else from
# Keras's download. When neither works it exports efficientnet-lite0 (weights bundled in a package)
# and exits 3 with a message: serving's models config and the gateway name one model (MODEL), so the
# switch to the fallback is one line in deploy/.env rather than a silent change of model.
# AUTO_DECIDE=1 (the embedded server's compose file): after each export, make the embedded server's
# `--runtime auto` decision once and cache it next to the version, for every replica to read.
set -eu

models_dir=${MODELS_DIR:-/models}
model=${MODEL:-resnet50}
fallback=${FALLBACK_MODEL:-efficientnet-lite0}
weights_file=${RESNET50_WEIGHTS_FILE:-/weights/resnet50.h5}

has_version() {
    for saved_model in "$models_dir/$1"/*/saved_model.pb; do
        [ -f "$saved_model" ] && return 0
    done
    return 1
}

next_version() {
    last=0
    for folder in "$models_dir/$1"/*/; do
        name=$(basename "$folder")
        case $name in *[!0-9]*) continue ;; esac
        [ "$name" -gt "$last" ] && last=$name
    done
    echo $((last + 1))
}

export_model() {
    if [ "${AUTO_DECIDE:-0}" != 1 ]; then
        echo "export-job: exporting $* into $models_dir"
        python -m export_model --out "$models_dir" --model "$@"
        return
    fi
    # export and decide in a staging folder, then move the finished version in with one rename: a replica
    # never sees a version whose decision is not cached yet (it would make its own, in its memory limit)
    version=$(next_version "$1")
    staging="$models_dir/.staging"
    rm -rf "$staging"
    echo "export-job: exporting $* as version $version, then deciding the embedded server's runtime"
    python -m export_model --out "$staging" --version "$version" --model "$@"
    python -m serving.auto_decide --version-dir "$staging/$1/$version"
    mkdir -p "$models_dir/$1"
    mv "$staging/$1/$version" "$models_dir/$1/$version"
    rm -rf "$staging"
}

if [ "${EXPORT_NEW_VERSION:-0}" = 1 ]; then
    # a rollout: the next version folder beside the served one; servers switch once it is loaded
    if [ "$model" = resnet50 ] && [ -s "$weights_file" ]; then
        export_model resnet50 --weights "$weights_file"
    else
        export_model "$model"
    fi
    exit 0
fi

if has_version "$model"; then
    echo "export-job: $models_dir/$model already holds a version; nothing to export"
    exit 0
fi

if [ "$model" != resnet50 ]; then
    export_model "$model"
    exit 0
fi

if [ -s "$weights_file" ]; then
    weights=$weights_file
else
    weights=imagenet
fi
if export_model resnet50 --weights "$weights"; then
    exit 0
fi

if ! has_version "$fallback"; then
    export_model "$fallback"
fi
cat >&2 <<EOF
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
! ResNet50 could not be exported with weights '$weights' (no RESNET50_WEIGHTS file, no download).
! Exported $fallback instead: its real ImageNet weights ship in a Python package.
! Serving and the gateway are set up for MODEL=$model, so they do not start now. Either
!   - serve $fallback: set MODEL=$fallback in deploy/.env, then make up
!   - or give ResNet50 weights: set RESNET50_WEIGHTS=/path/resnet50_weights_tf_dim_ordering_tf_kernels.h5
!     in deploy/.env, then make up
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
EOF
exit 3
