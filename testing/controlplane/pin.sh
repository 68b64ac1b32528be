#!/usr/bin/env bash
# Writes the Go module that pins one control plane: kube-apiserver at a
# Kubernetes release and etcd at the release that release is tested with.
#   testing/controlplane/pin.sh v1.37.2 testing/controlplane            # the default plane
#   testing/controlplane/pin.sh v1.35.4 testing/controlplane/compat/v1.35
# Every staging module of k8s.io/kubernetes is replaced by its published v0
# release of the same version (the main module's own replace lines point into
# its source tree and do not apply to a module that requires it).
set -euo pipefail
version=${1:?usage: pin.sh vMAJOR.MINOR.PATCH DIR}
dir=${2:?usage: pin.sh vMAJOR.MINOR.PATCH DIR}
staging=v0.${version#v1.}
info=$(go mod download -json "k8s.io/kubernetes@$version")
mod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$info")
src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")
[ -n "$mod" ] && [ -n "$src" ] || { echo "k8s.io/kubernetes@$version: not on the module proxy" >&2; exit 1; }
goline=$(grep -m1 -E '^go [0-9.]+$' "$mod")
godebug=$(grep -m1 -E '^godebug ' "$mod" || true)
# The etcd release Kubernetes runs its own integration tests with (hack/lib/etcd.sh).
etcd=v$(sed -n 's/^ETCD_VERSION=${ETCD_VERSION:-\([0-9.]*\)}$/\1/p' "$src/hack/lib/etcd.sh")
[ "$etcd" != v ] || { echo "no ETCD_VERSION in k8s.io/kubernetes@$version hack/lib/etcd.sh" >&2; exit 1; }
mkdir -p "$dir"
{
  echo "// The control plane kubereflect's integration tests run against: kube-apiserver"
  echo "// $version and etcd $etcd (the release Kubernetes $version is tested with)."
  echo "// Written by testing/controlplane/pin.sh; testing/binaries.ts compiles both tools."
  echo "module kubereflect.dev/controlplane"
  echo
  echo "$goline"
  [ -n "$godebug" ] && { echo; echo "$godebug"; }
  echo
  echo "tool ("
  echo "	go.etcd.io/etcd/server/v3"
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo ")"
  echo
  echo "require ("
  echo "	go.etcd.io/etcd/server/v3 $etcd"
  echo "	k8s.io/kubernetes $version"
  echo ")"
  echo
  echo "replace ("
  sed -n '/^replace (/,/^)/p' "$mod" | grep -E '=> \./staging/' | awk -v s="$staging" '{print "\t" $1 " => " $1 " " s}'
  echo ")"
} > "$dir/go.mod"
rm -f "$dir/go.sum"
(cd "$dir" && GOFLAGS=-mod=mod go mod tidy)
echo "pinned kube-apiserver $version and etcd $etcd in $dir/go.mod"
