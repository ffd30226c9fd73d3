#!/usr/bin/env bash
# `npm run test:containers`: the container images built and used for real (podman).
#
# No container registry is reachable here, so the base images are made locally from Debian's
# packages (mmdebstrap) and passed as BASE: bookworm for the worker (Python 3.11, the wheels in
# pip's cache), trixie for the CLI (Node.js 20.19). Then: build docker/Dockerfile and
# docker/Dockerfile.cli; check the worker image refuses to listen beyond loopback without TLS;
# run the worker container on host loopback with a token (host network) and drive a tiny
# dataset create, train, evaluate, predict and probe through it from the host's CLI, a
# ModelInfer with tritonclient (examples/embed/triton_client.py), `info` from the CLI image,
# and the image's health check. Machine facts: ../shared/CONTAINERS.md (runc, ulimits, host
# network, CA bundle, pip cache). As root it installs podman, runc and mmdebstrap with apt-get
# when missing. Base images are kept between runs (localhost/robustseg-base:*); the test's
# containers and volume are removed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${ROBUSTSEG_PYTHON:-$root/.venv/bin/python}"
tag="robustseg-test"
t0=$(date +%s)
passed=0
failed=0
step() { printf '[containers %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
ok() { passed=$((passed + 1)); step "ok   $*"; }
fail() { failed=$((failed + 1)); step "FAIL $*"; }

# --- tools ---------------------------------------------------------------------------------------
need=()
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
# `podman run --init` needs catatonit, only a recommendation of Debian's podman package.
[ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || need+=(catatonit)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-containers: needs ${need[*]} (apt-get install podman runc mmdebstrap, as root)" >&2
    exit 1
  fi
  step "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq update
  apt-get -qq install -y --no-install-recommends podman runc mmdebstrap catatonit >/dev/null
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/robustseg-containers-XXXXXX")"
cleanup() {
  podman rm -f "$tag-worker" >/dev/null 2>&1 || true
  podman volume rm -f "$tag-workspace" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# runc (crun fails here on hybrid cgroups) and ulimits the machine allows, for builds and runs.
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$work/containers.conf"

# The machine's Debian mirror and CA bundle (a TLS-inspecting egress needs its CA in builds).
mirror="$(grep -hoE 'https?://[^ ]*debian\.org/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v security | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
pip_cache="$("$python" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")"
mkdir -p "$pip_cache"

base_image() {  # suite
  local image="localhost/robustseg-base:$1"
  if podman image exists "$image"; then step "base $image (kept from an earlier run)"; return; fi
  step "base $image: mmdebstrap $1 from $mirror"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$1" "$work/$1.tar" "$mirror"
  podman import --quiet "$work/$1.tar" "$image" >/dev/null
  rm -f "$work/$1.tar"
}
base_image bookworm
base_image trixie

# --- images --------------------------------------------------------------------------------------
# docker format: OCI images drop HEALTHCHECK.
build_args=(--format docker --network host --volume "$ca_bundle:/build-ca.crt:ro")
step "building docker/Dockerfile (worker) FROM robustseg-base:bookworm"
t=$(date +%s)
if podman build --quiet "${build_args[@]}" --volume "$pip_cache:/pip-cache" \
    --build-arg BASE=localhost/robustseg-base:bookworm --build-arg PIP_CACHE_DIR=/pip-cache \
    --build-arg PIP_CERT=/build-ca.crt -f docker/Dockerfile -t "$tag-worker:latest" . > "$work/build-worker.log" 2>&1; then
  ok "worker image built in $(( $(date +%s) - t )) s ($(podman image inspect --format '{{.Size}}' "$tag-worker:latest" | awk '{printf "%.1f GB", $1/1e9}'))"
else
  tail -n 40 "$work/build-worker.log"; fail "worker image build"; echo "$passed passed, $failed failed"; exit 1
fi
step "building docker/Dockerfile.cli FROM robustseg-base:trixie"
t=$(date +%s)
if podman build --quiet "${build_args[@]}" --build-arg BASE=localhost/robustseg-base:trixie \
    --build-arg NODE_EXTRA_CA_CERTS=/build-ca.crt -f docker/Dockerfile.cli -t "$tag-cli:latest" . > "$work/build-cli.log" 2>&1; then
  ok "CLI image built in $(( $(date +%s) - t )) s"
else
  tail -n 40 "$work/build-cli.log"; fail "CLI image build"
fi

# --- the worker image refuses what it should -------------------------------------------------------
user="$(podman image inspect --format '{{.Config.User}}' "$tag-worker:latest")"
[ "$user" = "10001:10001" ] && ok "worker image runs as $user, not root" || fail "worker image user is '$user'"
set +e
refusal="$(podman run --rm --network host "$tag-worker:latest" 2>&1)"; code=$?
refusal_weak="$(podman run --rm --network host -e ROBUSTSEG_WORKER_TOKEN=x "$tag-worker:latest" 2>&1)"; code_weak=$?
strong_token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
refusal_tls="$(podman run --rm --network host -e ROBUSTSEG_WORKER_TOKEN="$strong_token" "$tag-worker:latest" 2>&1)"; code_tls=$?
set -e
if [ $code = 2 ] && grep -q "pass --token" <<<"$refusal" && [ $code_weak = 2 ] && grep -q "needs at least 16" <<<"$refusal_weak" \
    && [ $code_tls = 2 ] && grep -q "pass --tls-cert" <<<"$refusal_tls"; then
  ok "default command refuses 0.0.0.0 without a token, with a short token, and without TLS"
else
  fail "default command: exit $code ($refusal) / $code_weak ($refusal_weak) / $code_tls ($refusal_tls)"
fi

# --- the worker container on host loopback, driven from the host ----------------------------------
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
podman volume create "$tag-workspace" >/dev/null
if ! podman run -d --init --name "$tag-worker" --network host -e ROBUSTSEG_WORKER_TOKEN="$token" \
    -v "$tag-workspace:/workspace" "$tag-worker:latest" \
    --listen "127.0.0.1:$port" --workspace /workspace --parent-pid 0 >/dev/null; then
  fail "podman run of the worker image"; echo "$passed passed, $failed failed"; exit 1
fi
for _ in $(seq 1 120); do
  podman exec "$tag-worker" python -m robustseg_worker.healthcheck --address "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 1
done
if podman exec "$tag-worker" python -m robustseg_worker.healthcheck --address "127.0.0.1:$port"; then
  ok "worker container serving on 127.0.0.1:$port (health check inside the image)"
else
  podman logs "$tag-worker" | tail -n 20; fail "worker container never became healthy"; echo "$passed passed, $failed failed"; exit 1
fi

export ROBUSTSEG_TOKEN="$token"
cli() { node "$root/bin/robustseg.mjs" --worker "127.0.0.1:$port" "$@"; }
json() { "$python" -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }
if cli dataset create --tile-size 16 --train 8 --validation 4 --test 4 --seed 9 --json > "$work/ds.json" \
   && train="$(json "$work/ds.json" "d['datasets'][0]['id']")" && val="$(json "$work/ds.json" "d['datasets'][1]['id']")" \
   && test_ds="$(json "$work/ds.json" "d['datasets'][2]['id']")" \
   && cli train --train "$train" --validation "$val" --epochs 1 --batch-size 4 --depth 2 --base-width 4 --json > "$work/model.json" \
   && model="$(json "$work/model.json" "d['model']['id']")" \
   && cli evaluate --model "$model" --dataset "$test_ds" --json > "$work/eval.json" \
   && [ "$(json "$work/eval.json" "d['numPixels']")" = "1024" ]; then
  ok "dataset create, train, evaluate through the container (model $model)"
else
  fail "dataset create / train / evaluate through the container"
fi

images="$root/../shared/data/real/consep/images"
if [ ! -d "$images" ]; then
  images="$work/images"; mkdir -p "$images"
  "$python" -c "from PIL import Image; import numpy as np; Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save('$images/tile.png')"
fi
if cli predict --model "$model" --input "$images" --out "$work/masks" --json > "$work/predict.json" \
   && [ "$(json "$work/predict.json" "len(d['images'])")" -ge 1 ] \
   && [ -f "$work/masks/$(json "$work/predict.json" "d['images'][0]['mask']")" ]; then
  ok "predict through the container: $(json "$work/predict.json" "len(d['images'])") image(s), masks written on the host"
else
  fail "predict through the container"
fi
if cli model alias containerised "$model" >/dev/null \
   && cli probe --model containerised --input "$images" --steps 2 --json > "$work/probe.json" \
   && "$python" -c "import json; d = json.load(open('$work/probe.json')); assert all(i['linf'] <= 0.01 + 1e-6 for i in d['images'])"; then
  ok "alias and probe through the container"
else
  fail "alias / probe through the container"
fi
first_image="$(ls "$images" | head -n1)"
if "$python" "$root/examples/embed/triton_client.py" --url "127.0.0.1:$port" --model containerised \
     --image "$images/$first_image" --token "$token" > "$work/triton.json" \
   && [ "$(json "$work/triton.json" "d['outputs'][1][0]")" = "LABELS" ]; then
  ok "ModelInfer (Open Inference Protocol) through the container with tritonclient"
else
  fail "ModelInfer through the container"
fi
if podman run --rm --network host -e ROBUSTSEG_TOKEN="$token" "$tag-cli:latest" --worker "127.0.0.1:$port" info --json > "$work/info.json" \
   && grep -q '"open_inference_protocol"' "$work/info.json"; then
  ok "the CLI image reaches the worker container (info)"
else
  fail "the CLI image against the worker container"
fi

podman stop --time 20 "$tag-worker" >/dev/null
code="$(podman inspect --format '{{.State.ExitCode}}' "$tag-worker")"
[ "$code" = 0 ] && ok "worker container stops cleanly on SIGTERM" || fail "worker container exit code $code after stop"

step "done in $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
